//! Hiding the secrets in the URLs attachd is given, wherever it prints one: `attachd config`,
//! settings errors, the log lines and `/readyz` answers about a service that is down, and
//! `attachd worker --check`.

/// Query parameters that carry a secret in the URLs attachd takes (`password` for PostgreSQL,
/// `pass` for Redis over a socket, and the like): matched as a part of the name.
const SECRET_PARAMETERS: [&str; 4] = ["pass", "secret", "token", "key"];

/// A URL with its password hidden: in the user information (`redis://user:***@host`) and in
/// any query parameter named like one (`?password=***`); anything else unchanged. The user
/// information ends at the last `@`, wherever it is: a password may hold an unescaped `/`,
/// `?`, `,` or `@`, and hiding too much is better than printing part of one.
pub fn redact(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        // Not a URL; a password could still be in it (`pass@host`).
        return match value.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => value.to_owned(),
        };
    };
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let userinfo = match userinfo {
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, _)) if !user.contains('/') => format!("{user}:***@"),
            // `redis://secret@host`: Redis reads a lone user information as the password.
            _ => "***@".to_owned(),
        },
        None => String::new(),
    };
    let mut out = format!("{scheme}://{userinfo}{rest}");
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _))
                    if SECRET_PARAMETERS
                        .iter()
                        .any(|s| percent_decoded(name).to_ascii_lowercase().contains(s)) =>
                {
                    format!("{name}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// `name` with its `%xx` escapes decoded, as the URL parsers read it (`p%61ss` is `pass`);
/// anything not a valid escape is kept as written.
fn percent_decoded(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
