//! systemd's service notification protocol, as the hardened unit (`Type=notify`,
//! `WatchdogSec=`) expects: `READY=1` once settings are read, `WATCHDOG=1` while the loop is
//! alive. A datagram to `$NOTIFY_SOCKET`; outside systemd (no socket) every call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Sends notifications to the service manager, pinging its watchdog at most twice a period.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    /// Half of `$WATCHDOG_USEC` (systemd's advice), when the watchdog is on.
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
}

/// The socket address `$NOTIFY_SOCKET` names: a path, or `@name` in the abstract namespace.
fn address(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    match name.strip_prefix('@') {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
        }
        None => std::os::unix::net::SocketAddr::from_pathname(name),
    }
}

impl Notifier {
    /// From the environment systemd sets (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`).
    pub fn from_env() -> Self {
        let socket = std::env::var("NOTIFY_SOCKET").ok().and_then(|name| {
            let open = UnixDatagram::unbound().and_then(|s| Ok((s, address(&name)?)));
            open.map_err(|e| tracing::warn!(socket = %name, error = %melanoscope_shared::errors::Chain(&e), "cannot reach the service manager")).ok()
        });
        let ours = std::env::var("WATCHDOG_PID").ok().is_none_or(|pid| pid == std::process::id().to_string());
        let ping_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|us| *us > 0 && ours)
            .map(|us| Duration::from_micros(us / 2));
        Notifier { socket, ping_every, last_ping: None }
    }

    fn send(&self, message: &str) {
        if let Some((socket, to)) = &self.socket
            && let Err(e) = socket.send_to_addr(message.as_bytes(), to)
        {
            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), message, "service manager notification");
        }
    }

    /// Start-up is done (the settings are read; faults are shown and retried from here).
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// The loop is alive: pings the watchdog if half its period passed since the last ping.
    pub fn alive(&mut self) {
        let Some(every) = self.ping_every else { return };
        if self.last_ping.is_none_or(|t| t.elapsed() >= every) {
            self.send("WATCHDOG=1");
            self.last_ping = Some(Instant::now());
        }
    }

    /// A one-line status for `systemctl status`.
    pub fn status(&self, text: &str) {
        self.send(&format!("STATUS={}", text.replace('\n', " ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a service manager receives, through a real socket.
    #[test]
    fn ready_status_and_rate_limited_watchdog_pings_reach_the_socket() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("notify");
        let path = dir.join("notify.sock");
        let manager = UnixDatagram::bind(&path).unwrap();
        manager.set_nonblocking(true).unwrap();
        let socket = UnixDatagram::unbound().unwrap();
        let mut n = Notifier {
            socket: Some((socket, address(path.to_str().unwrap()).unwrap())),
            ping_every: Some(Duration::from_secs(3600)),
            last_ping: None,
        };
        n.ready();
        n.status("screening\nwith 10x");
        n.alive();
        n.alive(); // within the period: not sent
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(len) = manager.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).to_string());
        }
        assert_eq!(got, ["READY=1", "STATUS=screening with 10x", "WATCHDOG=1"]);
        // Outside systemd nothing is sent and nothing fails.
        let mut quiet = Notifier { socket: None, ping_every: None, last_ping: None };
        quiet.ready();
        quiet.alive();
        assert!(address("@melanoscope-test").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
