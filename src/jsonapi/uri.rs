//! Links are RFC 3986 URIs: what a request echoes into them (its query, its `Host`) is written with
//! every character that a URI does not allow there percent-encoded, and nothing else changed, so a
//! link means to the query parser exactly what the request did.
//!
//! The brackets of parameter names (`page[after]`) are the usual case: RFC 3986 allows `[` and `]`
//! only around an IP literal, so links carry `page%5Bafter%5D`, which the parser reads as the same
//! name. A `+` stays a `+` (the parser reads it as a space, or as a literal plus at the start of a
//! phone number), and an existing `%XX` escape stays as it is.

/// Whether `byte` may appear unencoded in a URI's query (RFC 3986 section 3.4: `pchar`, `/`, `?`),
/// `%` aside.
fn query_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&byte)
}

/// Whether `byte` may appear unencoded in a `reg-name` host (unreserved, sub-delims).
fn reg_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&byte)
}

fn is_escape(bytes: &[u8]) -> bool {
    matches!(bytes, [b'%', high, low, ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit())
}

/// Appends `text` to `out`, percent-encoding each byte that `allowed` refuses, and every `%` that
/// does not start an escape.
fn push_encoded(out: &mut String, text: &str, allowed: fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = text.as_bytes();
    // Most pieces need nothing encoded: they are copied in one go.
    let mut clean = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        if allowed(byte) || (byte == b'%' && is_escape(&bytes[at..])) {
            continue;
        }
        // `clean..at` are allowed ASCII bytes, so both ends are character boundaries (the bytes
        // of a multi-byte character are all encoded).
        if clean < at {
            out.push_str(&text[clean..at]);
        }
        out.push('%');
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xF)]));
        clean = at + 1;
    }
    if clean < bytes.len() {
        out.push_str(&text[clean..]);
    }
}

/// Appends one `name=value` piece of a raw query string, as the request sent it, to a link's
/// query: `page[size]=5` becomes `page%5Bsize%5D=5`.
pub fn push_query_piece(out: &mut String, piece: &str) {
    push_encoded(out, piece, query_byte);
}

/// `scheme://host[:port]` for links, from what the request says of itself (its `Host`, or a
/// proxy's `Forwarded` headers): a scheme that is not one falls back to `http`; a port is the
/// digits after the last `:`; a host that is not an IP literal (`[::1]`) is a `reg-name`, whose
/// other characters are percent-encoded.
pub fn origin(scheme: &str, host: &str) -> String {
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let scheme = if scheme_ok { scheme } else { "http" };
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (name, Some(port)),
        _ => (host, None),
    };
    let literal = name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|address| {
            !address.is_empty()
                && address
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b))
        });
    let mut out = String::with_capacity(scheme.len() + 3 + host.len());
    out.push_str(scheme);
    out.push_str("://");
    if literal {
        out.push_str(name);
    } else {
        push_encoded(&mut out, name, reg_name_byte);
    }
    if let Some(port) = port {
        out.push(':');
        out.push_str(port);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonapi::query::decode_lossy;

    fn piece(raw: &str) -> String {
        let mut out = String::new();
        push_query_piece(&mut out, raw);
        out
    }

    #[test]
    fn brackets_in_names_and_values_are_encoded() {
        assert_eq!(piece("page[after]=abc"), "page%5Bafter%5D=abc");
        assert_eq!(
            piece("filter[prospect][id]=1,2"),
            "filter%5Bprospect%5D%5Bid%5D=1,2"
        );
        assert_eq!(piece("filter[order][]=1"), "filter%5Border%5D%5B%5D=1");
        assert_eq!(piece("filter[name]=[x]"), "filter%5Bname%5D=%5Bx%5D");
    }

    /// Query pieces as clients send them, and whether each holds only what a query may hold as it
    /// is (brackets aside, which links always encode).
    #[rustfmt::skip]
    const PIECES: &[(&str, bool)] = &[
        ("page%5Bsize%5D=10", true),
        ("sort=-updatedAt,id", true),
        ("filter%5BcreatedAt%5D=2026-01-01T00:00:00.000Z..inf", true),
        ("filter[number]=+18889387356", true),
        ("filter%5Bsource%5D=a+b%2Bc", true),
        ("x=a/b?c:d@e!$&'()*;=~._-", true),
        ("include=prospect.owner", true),
        ("page[after]=a-b_c", true),
        ("filter[number]=+1 (888) 938-7356", false),
        ("filter[source]=100%", false),
        ("filter%5Bsource%5D=%zz", false),
        ("filter[firstName]=Zoë \"Z\" {}|^`", false),
        ("filter[title]=a+b", true),
    ];

    #[test]
    fn what_a_query_may_hold_is_kept_as_it_is() {
        for (raw, _) in PIECES.iter().filter(|(_, kept)| *kept) {
            let expected = raw.replace('[', "%5B").replace(']', "%5D");
            assert_eq!(piece(raw), expected, "{raw}");
        }
    }

    #[test]
    fn other_characters_and_stray_percent_signs_are_encoded() {
        assert_eq!(piece("a=\"x y\""), "a=%22x%20y%22");
        assert_eq!(piece("a={|}\\^`<>#"), "a=%7B%7C%7D%5C%5E%60%3C%3E%23");
        assert_eq!(piece("a=é"), "a=%C3%A9");
        assert_eq!(piece("a=100%"), "a=100%25");
        assert_eq!(piece("a=%zz%4"), "a=%25zz%254");
        assert_eq!(piece("a=%4a%4A"), "a=%4a%4A");
    }

    #[test]
    fn an_encoded_piece_decodes_as_the_piece_did() {
        for (raw, _) in PIECES {
            let encoded = piece(raw);
            let (name, value) = raw.split_once('=').unwrap();
            let (encoded_name, encoded_value) = encoded.split_once('=').unwrap();
            assert_eq!(decode_lossy(encoded_name), decode_lossy(name), "{raw}");
            assert_eq!(decode_lossy(encoded_value), decode_lossy(value), "{raw}");
            // The literal `+` the phone-number and datetime filters look at survives too.
            assert_eq!(encoded_value.starts_with('+'), value.starts_with('+'));
            assert!(
                encoded.bytes().all(|b| query_byte(b) || b == b'%'),
                "{encoded}"
            );
        }
    }

    #[test]
    fn origins_are_a_scheme_and_an_authority() {
        for (scheme, host, origin_is) in [
            ("http", "127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https", "crm.example.com", "https://crm.example.com"),
            ("http", "[::1]:8080", "http://[::1]:8080"),
            ("http", "a b\"c", "http://a%20b%22c"),
            ("http", "[::1]", "http://[::1]"),
            ("http", "localhost:", "http://localhost:"),
            ("http", "[x]y", "http://%5Bx%5Dy"),
            ("http", "a:b:c", "http://a%3Ab%3Ac"),
            ("http", "[::1]:80[0]", "http://%5B%3A%3A1%5D%3A80%5B0%5D"),
            ("ht tp", "h", "http://h"),
            ("", "h", "http://h"),
            ("git+ssh", "h", "git+ssh://h"),
        ] {
            assert_eq!(origin(scheme, host), origin_is, "{scheme:?} {host:?}");
        }
    }
}
