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
                        .any(|s| name.to_ascii_lowercase().contains(s)) =>
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
