//! The verdict table that `witness run` and `witness replay --summary`
//! print at the end: one row per identity, a column per outcome, and the
//! kernel's own denials.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::pipeline::Judged;
use crate::policy::Outcome;

/// Counts per identity, by outcome (in [`Outcome::ALL`] order) and kernel
/// denials.
#[derive(Debug, Default)]
pub struct Tally {
    /// Rows of earlier configurations, by identity name.
    by_name: HashMap<String, [u64; 5]>,
    /// The running configuration's rows, by identity index (no string per
    /// event); folded into `by_name` when the configuration changes.
    live: Vec<[u64; 5]>,
    live_names: Arc<Vec<String>>,
}

impl Tally {
    /// Counts one judged event; `names` are the running configuration's
    /// identities (a new `Arc` means a new configuration).
    pub fn count(&mut self, names: &Arc<Vec<String>>, judged: &Judged) {
        if !Arc::ptr_eq(&self.live_names, names) {
            self.fold_live();
            self.live_names = names.clone();
            self.live = vec![[0; 5]; names.len() + 1];
        }
        // CAST: u32 to usize widens; the last row is "_overflow".
        let i = (judged.identity as usize).min(self.live.len() - 1);
        let row = &mut self.live[i];
        row[Outcome::ALL.iter().position(|o| *o == judged.outcome).unwrap_or(0)] += 1;
        row[4] += u64::from(judged.kernel_verdict != 0);
    }

    /// The live rows with counts, by identity name.
    fn live_rows(&self) -> impl Iterator<Item = (&str, [u64; 5])> {
        self.live
            .iter()
            .enumerate()
            .filter(|(_, c)| c.iter().any(|&n| n > 0))
            .map(|(i, c)| (self.live_names.get(i).map_or("_overflow", String::as_str), *c))
    }

    /// Moves the live rows into the table by name.
    fn fold_live(&mut self) {
        let rows: Vec<(String, [u64; 5])> = self.live_rows().map(|(n, c)| (n.to_string(), c)).collect();
        for (name, counts) in rows {
            let row = self.by_name.entry(name).or_default();
            row.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
        }
        self.live.iter_mut().for_each(|r| *r = [0; 5]);
    }

    /// The table.
    pub fn table(&self) -> String {
        let mut rows: BTreeMap<&str, [u64; 5]> = self.by_name.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for (name, counts) in self.live_rows() {
            let row = rows.entry(name).or_default();
            row.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
        }
        let width = rows.keys().map(|k| k.len()).max().unwrap_or(8).max(8);
        let mut out = format!(
            "{:<width$}  {:>8} {:>8} {:>12} {:>8} {:>14}\n",
            "IDENTITY", "ALLOW", "REVIEW", "INVESTIGATE", "DENY", "KERNEL-DENIED"
        );
        for (id, c) in rows {
            out.push_str(&format!("{id:<width$}  {:>8} {:>8} {:>12} {:>8} {:>14}\n", c[0], c[1], c[2], c[3], c[4]));
        }
        out
    }
}
