//! `witness identity explain`: which inventory entry a process is, and why.

use std::path::Path;

use witness::identity::{explain, Inventory, ProcessFacts};

/// Prints which entry process `pid` is and why.
pub(crate) fn explain(pid: u32, inventory: &Path) -> anyhow::Result<()> {
    let inventory = Inventory::load(inventory)?;
    let facts = ProcessFacts::read(Path::new("/proc"), pid)?;
    print!("{}", explain::explain(&inventory, &facts));
    Ok(())
}
