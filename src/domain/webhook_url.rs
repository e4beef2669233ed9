//! A webhook's `url`: an absolute `http` or `https` URI (RFC 3986) of a grammar small enough to be
//! one regular expression, so that the OpenAPI document can state exactly which URLs are taken,
//! and that every URL it takes is read alike by RFC 3986 and by the WHATWG URL parser the delivery
//! client uses (a host whose last label is a number, such as `a.1`, is an IPv4 address to WHATWG
//! and an invalid one; `xn--` labels are punycode to it). So: a lower-case scheme, a host name or
//! a dotted-quad IPv4 address, an optional port, then a path and a query of URI characters; no
//! user information (every admin reads the URL back) and no fragment (it is never sent).

/// The longest URL a webhook may have.
pub const MAX_CHARS: usize = 2048;

/// The grammar [`is_valid`] implements, as the OpenAPI document states it. The length is a
/// lookahead of the pattern rather than a `maxLength` beside it: a generator that honours both
/// would look for 2048-character strings of the grammar by trial.
pub const PATTERN: &str = concat!(
    "^(?=.{0,2048}$)https?://",
    "(?:(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*",
    "|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}",
    "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    "(?::(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    "(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*",
    "(?:\\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$",
);

/// Whether `text` is a webhook URL (see the module documentation) of at most [`MAX_CHARS`].
pub fn is_valid(text: &str) -> bool {
    if text.chars().count() > MAX_CHARS {
        return false;
    }
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    (is_ipv4(host) || is_host_name(host)) && port.is_none_or(is_port) && is_path_and_query(tail)
}

/// Four decimal octets of 0–255 without leading zeros.
fn is_ipv4(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|octet| {
            !octet.is_empty()
                && octet.len() <= 3
                && octet.bytes().all(|b| b.is_ascii_digit())
                && (octet.len() == 1 || !octet.starts_with('0'))
                && octet.parse::<u16>().is_ok_and(|value| value <= 255)
        })
}

/// Dot-separated labels of letters, digits and single inner hyphens; the last one starts with a
/// letter (so the host is never read as a number).
fn is_host_name(host: &str) -> bool {
    let label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
            && !label.contains("--")
    };
    let last = host.rsplit('.').next().unwrap_or_default();
    host.split('.').all(label) && last.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// 1–5 digits of a value up to 65535.
fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|value| value <= 65535)
}

/// Empty, or a path of `/`-led segments and then an optional `?query`, both of RFC 3986 `pchar`s
/// (the query also `/` and `?`), `%` only in an escape.
fn is_path_and_query(tail: &str) -> bool {
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    (path.is_empty() || path.starts_with('/'))
        && uri_characters(path, b"/")
        && query.is_none_or(|query| uri_characters(query, b"/?"))
}

/// Whether `text` holds only `pchar`s, the `extra` bytes and `%XX` escapes.
fn uri_characters(text: &str, extra: &[u8]) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte == b'%' {
            let escape = bytes.get(at + 1..at + 3);
            if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            at += 3;
            continue;
        }
        if !(byte.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@".contains(&byte)
            || extra.contains(&byte))
        {
            return false;
        }
        at += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn takes_http_urls_of_the_grammar() {
        for url in [
            "http://a",
            "https://example.com/hooks",
            "http://127.0.0.1:9/x",
            "http://0.0.0.0:65535",
            "https://a-b.c-d9:0080/p/a%2Fth;x=1/?q=1&r=a/b?c",
            "http://1.2.3.x/",
            "http://x?",
            "http://localhost/.././",
        ] {
            assert!(is_valid(url), "{url}");
            // What is taken is an absolute URL to the delivery client too.
            let parsed = reqwest::Url::parse(url).expect(url);
            assert!(parsed.host_str().is_some_and(|host| !host.is_empty()));
        }
    }

    #[test]
    fn refuses_what_is_no_uri_or_reads_otherwise() {
        for url in [
            "",
            "HTTP://example.com",
            "ftp://example.com",
            "http:x",
            "http:\\\\x",
            "http:/x",
            "http://",
            "http:///x",
            "http://a.1",
            "http://1.2.3",
            "http://256.0.0.1",
            "http://01.2.3.4",
            "http://xn--a",
            "http://-a",
            "http://a-",
            "http://a.",
            "http://.a",
            "http://a:",
            "http://a:65536",
            "http://a:1:2",
            "http://u@a",
            "http://[::1]/",
            "http://a/b c",
            "http://a/\u{e9}",
            "http://a/%4",
            "http://a/%zz",
            "http://a/#f",
            "http://a/\\",
            "http://a/[x]",
            "http://a/\u{0}",
        ] {
            assert!(!is_valid(url), "{url:?}");
        }
    }
}
