//! `witness policy validate`: policies and an inventory checked against
//! the witness schema.

use std::path::{Path, PathBuf};

use witness::identity::Inventory;

/// Checks policies (and an inventory); prints the schema with `schema`.
pub(crate) fn validate(policy: &[PathBuf], inventory: Option<&Path>, schema: bool) -> anyhow::Result<()> {
    if schema {
        print!("{}", witness::policy::SCHEMA);
        return Ok(());
    }
    if policy.is_empty() && inventory.is_none() {
        anyhow::bail!("nothing to validate: give policy files or directories, and/or --inventory");
    }
    let inv = inventory.map(Inventory::load).transpose()?;
    if let (Some(path), Some(inv)) = (inventory, &inv) {
        println!("{}: {} workloads", path.display(), inv.workloads().len());
    }
    if !policy.is_empty() {
        let policies = witness::policy::Policies::load(policy)?;
        println!("{} policies valid against the witness schema", policies.len());
        if let Some(inv) = &inv {
            for warning in witness::pipeline::unknown_workloads(inv, &policies) {
                println!("warning: {warning}");
            }
        }
    }
    Ok(())
}
