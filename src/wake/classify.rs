//! What a request for a sleeping space gets, from its method, path and headers only (pure).
//!
//! - Monitors and crawlers (their user agents), and unauthenticated HEAD requests (what uptime
//!   checks send; a browser navigates with GET) wake nothing: they are not use.
//! - `/robots.txt` is answered as Nextcloud's own (`robots.txt` of nextcloud/server: every path
//!   disallowed), without waking.
//! - A browser's page load (GET, `Accept: text/html`, outside the DAV and API paths) wakes the
//!   space and gets a page that says so and reloads itself.
//! - Everything else (WebDAV, CalDAV and CardDAV, the sync clients' polls, OCS and API calls,
//!   `status.php`, which the desktop client checks before it sends anything else) wakes the space
//!   and is held until its web serves it: the desktop client waits 300 s for an answer
//!   (nextcloud/desktop `src/libsync/configfile.cpp`, `timeout()`), so a held request is no error.

/// What the wake component does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// Answered without waking (a monitor, a crawler, a probe).
    Ignore,
    /// Answered with Nextcloud's robots.txt, without waking.
    Robots,
    /// Wakes the space; the browser gets the waking page.
    Page,
    /// Wakes the space; the request is held, then sent to the space.
    Hold,
}

/// Substrings of the user agents of monitors and crawlers (lowercase).
pub const IGNORED_AGENTS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "uptime",
    "monitor",
    "pingdom",
    "statuscake",
    "nagios",
    "icinga",
    "zabbix",
    "check_http",
    "blackbox",
    "prometheus",
    "healthcheck",
    "kube-probe",
];

/// Paths that are never a page load, whatever the Accept header says.
const CLIENT_PATHS: &[&str] = &["/remote.php", "/public.php", "/ocs/", "/status.php", "/.well-known/", "/index.php/apps/", "/apps/"];

pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub user_agent: Option<&'a str>,
    pub accept: Option<&'a str>,
    /// An Authorization header or a cookie came with it.
    pub credentials: bool,
}

pub fn treatment(r: &RequestFacts<'_>) -> Treatment {
    let agent = r.user_agent.unwrap_or_default().to_ascii_lowercase();
    if r.path == "/robots.txt" {
        return Treatment::Robots;
    }
    if IGNORED_AGENTS.iter().any(|a| agent.contains(a)) {
        return Treatment::Ignore;
    }
    if r.method.eq_ignore_ascii_case("HEAD") && !r.credentials {
        return Treatment::Ignore;
    }
    if r.path == "/favicon.ico" && !r.credentials {
        return Treatment::Ignore;
    }
    let page_load = r.method.eq_ignore_ascii_case("GET")
        && r.accept.is_some_and(|a| a.to_ascii_lowercase().contains("text/html"))
        && !CLIENT_PATHS.iter().any(|p| r.path.starts_with(p));
    if page_load { Treatment::Page } else { Treatment::Hold }
}

/// The body of Nextcloud's robots.txt.
pub const ROBOTS: &str = "User-agent: *\nDisallow: /\n";

/// The page a browser gets while the space wakes: it reloads itself every few seconds.
pub fn waking_page(host: &str, retry_seconds: u32) -> String {
    let host = html_escape(host);
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{retry_seconds}\">\
         <title>{host}</title></head><body><h1>{host}</h1><p>Cet espace se réveille : la page se rechargera d'elle-même dans \
         quelques secondes.</p><p>This space is waking up: the page reloads by itself in a few seconds.</p></body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, path: &'a str, agent: &'a str, accept: &'a str, credentials: bool) -> RequestFacts<'a> {
        RequestFacts { method, path, user_agent: Some(agent), accept: Some(accept), credentials }
    }

    #[test]
    fn clients_are_held_browsers_get_the_page_monitors_wake_nothing() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
        let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(treatment(&req("GET", "/apps/files/", firefox, html, true)), Treatment::Hold, "an app's API path is never a page load");
        assert_eq!(treatment(&req("GET", "/index.php/login", firefox, html, false)), Treatment::Page);
        assert_eq!(treatment(&req("GET", "/", firefox, html, false)), Treatment::Page);
        let desktop = "Mozilla/5.0 (Linux) mirall/3.16.0 (Nextcloud, debian-6.1 ClientArchitecture: x86_64 OsArchitecture: x86_64)";
        assert_eq!(treatment(&req("PROPFIND", "/remote.php/dav/files/alice/", desktop, "*/*", true)), Treatment::Hold);
        assert_eq!(treatment(&req("GET", "/status.php", desktop, "*/*", false)), Treatment::Hold, "the desktop client checks it first");
        let davx5 = "DAVx5/4.4.3-ose (2024/10/09; dav4jvm; okhttp/4.12.0) Android/14";
        assert_eq!(treatment(&req("REPORT", "/remote.php/dav/calendars/alice/personal/", davx5, "*/*", true)), Treatment::Hold);
        assert_eq!(treatment(&req("PUT", "/remote.php/dav/files/alice/a.txt", "curl/8.14.1", "*/*", true)), Treatment::Hold);
        for monitor in ["Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "Googlebot/2.1", "kube-probe/1.33"] {
            assert_eq!(treatment(&req("GET", "/status.php", monitor, "*/*", false)), Treatment::Ignore, "{monitor}");
        }
        assert_eq!(treatment(&req("HEAD", "/", "curl/8.14.1", "*/*", false)), Treatment::Ignore, "an unauthenticated HEAD is a check");
        assert_eq!(treatment(&req("HEAD", "/remote.php/dav/files/a/x", "curl/8.14.1", "*/*", true)), Treatment::Hold);
        assert_eq!(treatment(&req("GET", "/robots.txt", "Googlebot/2.1", "*/*", false)), Treatment::Robots);
        assert!(waking_page("<x>", 5).contains("&lt;x&gt;") && waking_page("a", 5).contains("content=\"5\""));
    }
}
