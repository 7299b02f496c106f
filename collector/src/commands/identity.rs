//! `witness identity explain`: which inventory entry a process is, and why;
//! `witness inventory import-spire`: SPIRE's entries as inventory entries.

use std::path::Path;

use witness::identity::{explain, Inventory, ProcessFacts};

/// Prints which entry process `pid` is and why; with `cri`, the pod of its
/// container as the runtime there describes it.
pub(crate) fn explain(pid: u32, inventory: &Path, cri: Option<&str>) -> anyhow::Result<()> {
    let inventory = Inventory::load(inventory)?;
    let mut facts = ProcessFacts::read(Path::new("/proc"), pid)?;
    if let (Some(uri), Some(id)) = (cri, facts.cgroup_info.container_id.as_deref()) {
        facts.pod = witness::enrich::pods::lookup(uri, id)?;
    }
    print!("{}", explain::explain(&inventory, &facts));
    Ok(())
}

/// Writes the inventory made of the SPIRE entries in `file` to `output`
/// (standard output without); says on standard error what was left out.
pub(crate) fn import_spire(
    file: &Path,
    owner: &str,
    skip_unsupported: bool,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let import = witness::identity::spire::import_file(file, owner, skip_unsupported)?;
    match output {
        Some(path) => std::fs::write(path, &import.toml).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{}", import.toml),
    }
    for s in import.nodes.iter().chain(&import.skipped) {
        eprintln!("witness: not imported: {s}");
    }
    eprintln!(
        "witness: {} workload entr{} imported, {} node entr{} and {} workload entr{} left out",
        import.imported,
        if import.imported == 1 { "y" } else { "ies" },
        import.nodes.len(),
        if import.nodes.len() == 1 { "y" } else { "ies" },
        import.skipped.len(),
        if import.skipped.len() == 1 { "y" } else { "ies" },
    );
    Ok(())
}
