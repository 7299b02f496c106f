//! What `witness run` tells systemd (`Type=notify`, see
//! packaging/witness.service): `READY=1` once the device is open and
//! read, so that `systemctl start` returns when events are being judged
//! (not when the process exists); `STATUS=` lines saying what it waits
//! for; `WATCHDOG=1` from the pipeline thread, so that a pipeline stuck
//! anywhere (a hung write, a livelock) is killed and restarted by systemd
//! while the endpoints' thread could still answer; `STOPPING=1` at the
//! end. Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// The daemon's side of the service manager's protocol.
pub(crate) struct Service {
    /// How often the watchdog must hear from us (None: no watchdog).
    ping_every: Option<Duration>,
    last_ping: Instant,
    ready: bool,
    /// The status last sent, not to send it again every loop.
    status: String,
}

impl Service {
    /// Reads the watchdog settings systemd gave (`WATCHDOG_USEC`).
    pub(crate) fn from_env() -> Self {
        // Twice per period, as sd_watchdog_enabled(3) advises.
        let ping_every = sd_notify::watchdog_enabled().map(|d| d / 2);
        if let Some(every) = ping_every {
            tracing::info!("systemd watchdog: pinging every {every:?}");
        }
        Self { ping_every, last_ping: Instant::now(), ready: false, status: String::new() }
    }

    /// The device is being read: ready, with what is read.
    pub(crate) fn ready(&mut self, status: &str) {
        if !self.ready {
            self.ready = true;
            self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
        } else {
            self.status(status);
        }
        self.status = status.into();
    }

    /// What the daemon does now (waiting for the module, say).
    pub(crate) fn status(&mut self, status: &str) {
        if self.status != status {
            self.send(&[NotifyState::Status(status)]);
            self.status = status.into();
        }
    }

    /// The pipeline thread is alive: pings the watchdog when due.
    pub(crate) fn alive(&mut self) {
        if let Some(every) = self.ping_every {
            if self.last_ping.elapsed() >= every {
                self.send(&[NotifyState::Watchdog]);
                self.last_ping = Instant::now();
            }
        }
    }

    /// The daemon is stopping (flushing the evidence log).
    pub(crate) fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping: flushing the evidence log")]);
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(states) {
            tracing::debug!("cannot notify the service manager: {e}");
        }
    }
}
