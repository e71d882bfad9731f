//! What one replica saw of one key between two flushes: requests served and refused per UTC
//! day, and the clients they came from. A request takes the key's small lock once and
//! allocates nothing unless a new address or user agent shows up; the flusher takes the whole
//! tally and writes it, one write per key whatever the traffic.

use std::{net::IpAddr, sync::Arc};

/// Distinct addresses kept per key between two flushes. Beyond it the least recently seen is
/// dropped: a flood of addresses costs bounded memory, and the latest ones still reach the
/// database.
pub const MAX_CLIENTS: usize = 16;
/// The longest user agent kept, in characters.
pub const MAX_USER_AGENT: usize = 256;
const DAY_MS: i64 = 86_400_000;

/// Who presented a key: the client address (as [`crate::security::proxies`] decided it) and
/// the `User-Agent` header as sent.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub ip: IpAddr,
    pub user_agent: Option<&'a [u8]>,
}

impl Seen<'_> {
    /// A call with no client behind it (a benchmark, a background task).
    pub const NOBODY: Seen<'static> = Seen {
        ip: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        user_agent: None,
    };
}

/// One UTC day's counts; `day` is days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    pub day: i64,
    pub requests: u64,
    pub refused: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: Option<Arc<str>>,
    /// Unix ms.
    pub last_seen_ms: i64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub days: Vec<DayCount>,
    pub clients: Vec<Client>,
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.days.is_empty() && self.clients.is_empty()
    }

    /// A request the key was admitted for.
    pub fn served(&mut self, now_ms: i64, seen: &Seen<'_>) {
        self.day(now_ms).requests += 1;
        if let Some(client) = self.clients.iter_mut().find(|c| c.ip == seen.ip) {
            client.last_seen_ms = client.last_seen_ms.max(now_ms);
            if !same_agent(client.user_agent.as_deref(), seen.user_agent) {
                client.user_agent = seen.user_agent.map(|raw| Arc::from(user_agent(raw)));
            }
            return;
        }
        self.add_client(Client {
            ip: seen.ip,
            user_agent: seen.user_agent.map(|raw| Arc::from(user_agent(raw))),
            last_seen_ms: now_ms,
        });
    }

    /// A request that presented the key while it was deactivated or expired.
    pub fn refused(&mut self, now_ms: i64) {
        self.day(now_ms).refused += 1;
    }

    /// The most recent client: what becomes `last_used_ip` / `last_used_user_agent`.
    #[cfg(test)]
    pub fn last_client(&self) -> Option<&Client> {
        self.clients.iter().max_by_key(|c| c.last_seen_ms)
    }

    /// Adds what another tally of the same key saw (a key evicted before its flush).
    pub fn merge(&mut self, other: Tally) {
        for d in other.days {
            let mine = self.day_entry(d.day);
            mine.requests += d.requests;
            mine.refused += d.refused;
        }
        for client in other.clients {
            match self.clients.iter_mut().find(|c| c.ip == client.ip) {
                Some(mine) if mine.last_seen_ms < client.last_seen_ms => *mine = client,
                Some(_) => {}
                None => self.add_client(client),
            }
        }
    }

    fn day(&mut self, now_ms: i64) -> &mut DayCount {
        self.day_entry(now_ms.div_euclid(DAY_MS))
    }

    fn day_entry(&mut self, day: i64) -> &mut DayCount {
        // Nearly always one day, the last: scanned from the end.
        let at = match self.days.iter().rposition(|d| d.day == day) {
            Some(at) => at,
            None => {
                self.days.push(DayCount {
                    day,
                    requests: 0,
                    refused: 0,
                });
                self.days.len() - 1
            }
        };
        &mut self.days[at]
    }

    fn add_client(&mut self, client: Client) {
        if self.clients.len() >= MAX_CLIENTS {
            if let Some(oldest) = self
                .clients
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.last_seen_ms)
                .map(|(at, _)| at)
            {
                if self.clients[oldest].last_seen_ms > client.last_seen_ms {
                    return;
                }
                self.clients.swap_remove(oldest);
            }
        }
        self.clients.push(client);
    }
}

/// A user agent as kept: control characters replaced (it is shown in the web app and logs),
/// at most [`MAX_USER_AGENT`] characters.
pub fn user_agent(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .take(MAX_USER_AGENT)
        .collect()
}

/// Whether `raw` would be kept as `kept`, without allocating in the common case (the same
/// printable ASCII header as last time).
fn same_agent(kept: Option<&str>, raw: Option<&[u8]>) -> bool {
    match (kept, raw) {
        (None, None) => true,
        (Some(kept), Some(raw)) => kept.as_bytes() == raw || kept == user_agent(raw),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(ip: &str, agent: &'static str) -> Seen<'static> {
        Seen {
            ip: ip.parse().unwrap(),
            user_agent: Some(agent.as_bytes()),
        }
    }

    #[test]
    fn counts_by_day_and_keeps_each_address_once() {
        let mut t = Tally::default();
        t.served(DAY_MS - 1, &seen("10.0.0.1", "curl/8"));
        t.served(DAY_MS, &seen("10.0.0.1", "curl/9"));
        t.served(DAY_MS + 5, &seen("10.0.0.2", "hoop/1"));
        t.refused(DAY_MS + 6);
        assert_eq!(
            t.days,
            [
                DayCount {
                    day: 0,
                    requests: 1,
                    refused: 0
                },
                DayCount {
                    day: 1,
                    requests: 2,
                    refused: 1
                },
            ]
        );
        assert_eq!(t.clients.len(), 2);
        let first = t
            .clients
            .iter()
            .find(|c| c.ip.to_string() == "10.0.0.1")
            .unwrap();
        assert_eq!(first.user_agent.as_deref(), Some("curl/9"));
        assert_eq!(first.last_seen_ms, DAY_MS);
        assert_eq!(t.last_client().unwrap().ip.to_string(), "10.0.0.2");
    }

    #[test]
    fn a_flood_of_addresses_keeps_the_latest() {
        let mut t = Tally::default();
        for i in 0..100u8 {
            t.served(i64::from(i), &seen(&format!("10.0.1.{i}"), "x"));
        }
        assert_eq!(t.clients.len(), MAX_CLIENTS);
        assert!(t
            .clients
            .iter()
            .all(|c| c.last_seen_ms >= 100 - MAX_CLIENTS as i64));
        assert_eq!(t.days[0].requests, 100);
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_later_sighting() {
        let mut a = Tally::default();
        a.served(10, &seen("10.0.0.1", "old"));
        let mut b = Tally::default();
        b.served(20, &seen("10.0.0.1", "new"));
        b.refused(21);
        a.merge(b);
        assert_eq!(
            a.days,
            [DayCount {
                day: 0,
                requests: 2,
                refused: 1
            }]
        );
        assert_eq!(a.clients[0].user_agent.as_deref(), Some("new"));
    }

    #[test]
    fn user_agents_are_bounded_and_printable() {
        let long = "a".repeat(1000);
        assert_eq!(user_agent(long.as_bytes()).chars().count(), MAX_USER_AGENT);
        assert_eq!(
            user_agent(b"bad\r\nline\xff"),
            "bad\u{FFFD}\u{FFFD}line\u{FFFD}"
        );
        let mut t = Tally::default();
        t.served(
            1,
            &Seen {
                ip: "::1".parse().unwrap(),
                user_agent: Some(b"a\nb"),
            },
        );
        t.served(
            2,
            &Seen {
                ip: "::1".parse().unwrap(),
                user_agent: Some(b"a\nb"),
            },
        );
        assert_eq!(t.clients[0].user_agent.as_deref(), Some("a\u{FFFD}b"));
    }
}
