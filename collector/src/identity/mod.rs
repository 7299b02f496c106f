//! Workload identity: SPIFFE IDs, SPIRE-style selectors, and the inventory
//! file that maps selectors to declared workloads (SPIFFE ID, owner,
//! declared peers).
//!
//! Attribution rule (documented for users in README): an entry matches a
//! process when *all* its selectors match; among matching entries, the one
//! with the most selectors wins; a tie goes to the entry that comes first in
//! the file. A process that matches no entry is `unattested`.

pub mod explain;
pub mod inventory;
pub mod process;
pub mod selector;
pub mod spiffe;
pub mod spire;

pub use inventory::{Inventory, InventoryError, Workload};
pub use process::{ProcessError, ProcessFacts};
pub use selector::{Selector, Subject};
pub use spiffe::{SpiffeId, SpiffeIdError};
