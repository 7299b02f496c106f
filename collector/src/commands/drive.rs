//! The one loop that `witness events`, `witness replay` and `witness run`
//! share: take a batch from a [`Batches`] source, let the command check its
//! sequence numbers in arrival order (each ring's records arrive in
//! sequence order; sorting by time can swap two records whose timestamps
//! and slots were taken in different orders), hand it the events in time
//! order, let it finish the batch (flush, publish), and only then give the
//! batch's ring space back: what was read has reached the sinks. While the
//! handler says its output is not durable, space is not given back (the
//! next commit gives back everything read until then).
//!
//! What differs between the commands is in their [`Handler`]: printing,
//! judging, or judging and serving a daemon's figures.

use std::ops::ControlFlow;

use witness::source::decode::{self, Event};
use witness::source::device::DeviceError;

/// How a source's batch ended.
#[derive(Debug)]
pub(crate) enum Next {
    /// More may follow.
    More,
    /// The source has no more records (the end of a capture, a deadline).
    End,
    /// The module went away (the device said so); the records before it
    /// are in the batch.
    Gone(DeviceError),
    /// The source is damaged from here on (a capture's bad record); the
    /// records before the damage are in the batch.
    Damaged(anyhow::Error),
}

/// Where batches of records come from.
pub(crate) trait Batches {
    /// Appends the next batch to `out` (maybe none, when a live source had
    /// nothing before its deadline).
    fn next(&mut self, out: &mut Vec<Event>) -> anyhow::Result<Next>;

    /// Gives back the space of the batch the handler finished (mmap'ed
    /// rings; a no-op for sources that copy).
    fn commit(&mut self) {}
}

/// What a command does with batches.
pub(crate) trait Handler<S: ?Sized> {
    /// Before each batch is read (apply a pending reload, say).
    fn before(&mut self) {}

    /// The batch in arrival order, before any event of it: sequence
    /// numbers are checked here.
    fn arrived(&mut self, events: &[Event]);

    /// One event, in time order. `Break` stops the loop (a count reached,
    /// stdout closed).
    fn event(&mut self, event: &Event) -> ControlFlow<()>;

    /// The batch is done; `source` is there for figures it can give.
    fn finished(&mut self, _source: &S) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// Whether what was handled so far is safe, so that its space may be
    /// given back (false while the evidence log cannot be written).
    fn durable(&self) -> bool {
        true
    }
}

/// Why [`drive`] returned.
#[derive(Debug)]
pub(crate) enum Ended {
    /// `stop` said so, or the handler broke off.
    Stopped,
    /// The source ended.
    End,
    /// The module went away.
    Gone(DeviceError),
    /// The source is damaged.
    Damaged(anyhow::Error),
}

/// Runs batches from `source` through `handler` until `stop` says so, the
/// handler breaks off, or the source ends (the batch it ended with is
/// handled first).
pub(crate) fn drive<S: Batches + ?Sized, H: Handler<S> + ?Sized>(
    source: &mut S,
    handler: &mut H,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Ended> {
    let mut events = Vec::new();
    while !stop() {
        handler.before();
        events.clear();
        let next = source.next(&mut events)?;
        handler.arrived(&events);
        for event in decode::by_time(&events) {
            if handler.event(event).is_break() {
                return Ok(Ended::Stopped);
            }
        }
        let finished = handler.finished(source);
        if handler.durable() {
            source.commit();
        }
        if finished.is_break() {
            return Ok(Ended::Stopped);
        }
        match next {
            Next::More => {}
            Next::End => return Ok(Ended::End),
            Next::Gone(e) => return Ok(Ended::Gone(e)),
            Next::Damaged(e) => return Ok(Ended::Damaged(e)),
        }
    }
    Ok(Ended::Stopped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use witness::source::decode::{Body, Meta};
    use witness_abi::record::{ForkRecord, RecordKind};
    use zerocopy::FromZeros;

    fn fork(seq: u64, ts_ns: u64) -> Event {
        Event {
            meta: Meta { cpu: 0, seq, ts_ns },
            wire_kind: RecordKind::Fork as u16,
            body: Body::Fork(ForkRecord::new_zeroed()),
        }
    }

    /// Two batches, the second one ending the source.
    struct Two(Vec<(Vec<Event>, Next)>, Vec<&'static str>);

    impl Batches for Two {
        fn next(&mut self, out: &mut Vec<Event>) -> anyhow::Result<Next> {
            self.1.push("next");
            let (events, next) = self.0.remove(0);
            out.extend(events);
            Ok(next)
        }
        fn commit(&mut self) {
            self.1.push("commit");
        }
    }

    #[derive(Default)]
    struct Log(Vec<String>, bool);

    impl Handler<Two> for Log {
        fn arrived(&mut self, events: &[Event]) {
            self.0.push(format!("arrived {:?}", events.iter().map(|e| e.meta.seq).collect::<Vec<_>>()));
        }
        fn event(&mut self, event: &Event) -> ControlFlow<()> {
            self.0.push(format!("event {}", event.meta.seq));
            ControlFlow::Continue(())
        }
        fn finished(&mut self, source: &Two) -> ControlFlow<()> {
            self.0.push(format!("finished after {}", source.1.last().unwrap()));
            ControlFlow::Continue(())
        }
        fn durable(&self) -> bool {
            !self.1
        }
    }

    /// A handler that is not durable keeps the space of what it read.
    #[test]
    fn nothing_is_given_back_while_output_is_not_durable() {
        let batches = vec![(vec![fork(0, 1)], Next::More), (vec![fork(1, 2)], Next::End)];
        let mut source = Two(batches, Vec::new());
        let mut log = Log(Vec::new(), true);
        drive(&mut source, &mut log, &|| false).unwrap();
        assert_eq!(source.1, ["next", "next"]);
    }

    /// Sequence checks see arrival order, events come in time order, the
    /// batch is finished before its space is given back, and the batch a
    /// source ends with is handled.
    #[test]
    fn batches_are_checked_ordered_finished_then_committed() {
        let mut source = Two(
            vec![
                (vec![fork(0, 20), fork(1, 10)], Next::More),
                (vec![fork(2, 30)], Next::Damaged(anyhow::anyhow!("bad"))),
            ],
            Vec::new(),
        );
        let mut log = Log::default();
        let ended = drive(&mut source, &mut log, &|| false).unwrap();
        assert!(matches!(ended, Ended::Damaged(ref e) if e.to_string() == "bad"), "{ended:?}");
        assert_eq!(
            log.0,
            [
                "arrived [0, 1]",
                "event 1",
                "event 0",
                "finished after next",
                "arrived [2]",
                "event 2",
                "finished after next",
            ]
        );
        assert_eq!(source.1, ["next", "commit", "next", "commit"]);
    }
}
