//! TLS for the PostgreSQL sink: libpq's `sslmode` semantics on rustls (ring).
//!
//! | sslmode              | encryption                    | certificate check                          |
//! |----------------------|-------------------------------|--------------------------------------------|
//! | `disable`            | never                         | –                                          |
//! | `allow`, `prefer` (default) | when the server offers it | none                                   |
//! | `require`            | always                        | none (chain only, as verify-ca, when `sslrootcert` is given) |
//! | `verify-ca`          | always                        | chain against `sslrootcert` or the system roots |
//! | `verify-full`        | always                        | chain and host name                        |
//!
//! tokio-postgres itself knows only disable/prefer/require and no `sslrootcert`, so the
//! connection string is rewritten before it parses it.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode {other:?} (use disable, allow, prefer, require, verify-ca or verify-full)"
                ));
            }
        })
    }

    /// What tokio-postgres is told.
    fn for_driver(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow | SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        }
    }
}

/// A connection string split into what tokio-postgres parses and what we handle.
#[derive(Debug)]
pub struct ConnSpec {
    pub driver_string: String,
    pub sslmode: SslMode,
    pub rootcert: Option<PathBuf>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (
                (bytes[i + 1] as char).to_digit(16),
                (bytes[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `key=value` connection strings into pairs (values unquoted and unescaped).
fn kv_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            // The word is not echoed: after an unquoted `password=a b`, it is part of a password.
            return Err(
                "invalid connection string: expected key=value pairs, found a word \
                        without '='; quote values that hold spaces (password='a b')"
                    .into(),
            );
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("invalid connection string: unterminated quote".into()),
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// What a password is replaced with wherever a connection string is shown.
pub const PASSWORD_MASK: &str = "xxxxx";

/// `conn` with every password it holds replaced by `xxxxx`, safe for logs and errors: the
/// user-info of a URL (`postgres://user:pw@host/db`), a `password` query parameter
/// (`?password=pw`), and the `password` of a libpq key/value string, plain or quoted
/// (`password=pw`, `password='p w'`). A string that cannot be parsed is masked generously.
pub fn mask_password(conn: &str) -> String {
    let mut spans = password_spans(conn);
    spans.sort_unstable();
    let mut out = String::with_capacity(conn.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        out.push_str(&conn[at..start.max(at)]);
        out.push_str(PASSWORD_MASK);
        at = end;
    }
    out.push_str(&conn[at..]);
    out
}

/// Every form in which the passwords of `conn` may show up in a message: as written, and
/// percent-decoded (URL) or unquoted and unescaped (key/value). Empty passwords are left out.
pub fn passwords(conn: &str) -> Vec<String> {
    let url = conn.contains("://");
    let mut out: Vec<String> = Vec::new();
    for (start, end) in password_spans(conn) {
        let raw = &conn[start..end];
        let mut forms = vec![raw.to_string()];
        if url {
            forms.push(percent_decode(raw));
            forms.push(percent_decode(&raw.replace('+', " ")));
        } else {
            let mut unescaped = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    unescaped.extend(chars.next());
                } else {
                    unescaped.push(c);
                }
            }
            forms.push(unescaped);
        }
        for form in forms {
            if !form.is_empty() && !out.contains(&form) {
                out.push(form);
            }
        }
    }
    out
}

/// Byte ranges of the password values in `conn` (inside their quotes, if quoted).
fn password_spans(conn: &str) -> Vec<(usize, usize)> {
    if let Some(scheme_end) = conn.find("://") {
        url_password_spans(conn, scheme_end + 3)
    } else {
        kv_password_spans(conn)
    }
}

fn url_password_spans(conn: &str, rest_start: usize) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let rest = &conn[rest_start..];
    let query_at = rest.find('?').unwrap_or(rest.len());
    // The user info ends at the last '@' before the query; a password holding an unencoded '?'
    // puts its '@' after that, but still before the first '/' of the path.
    let at = rest[..query_at].rfind('@').or_else(|| {
        let slash = rest.find('/').unwrap_or(rest.len());
        rest[..slash].rfind('@')
    });
    if let Some(at) = at
        && let Some(colon) = rest[..at].find(':')
    {
        spans.push((rest_start + colon + 1, rest_start + at));
    }
    let after_userinfo = at.map_or(0, |a| a + 1);
    if let Some(q) = rest[after_userinfo..].find('?') {
        let mut pos = rest_start + after_userinfo + q + 1;
        for pair in conn[pos..].split('&') {
            let (key, value_offset) = match pair.find('=') {
                Some(eq) => (&pair[..eq], eq + 1),
                None => (pair, pair.len()),
            };
            if percent_decode(key).trim().eq_ignore_ascii_case("password") {
                spans.push((pos + value_offset, pos + pair.len()));
            }
            pos += pair.len() + 1;
        }
    }
    spans
}

fn kv_password_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let n = b.len();
    let ws = |c: u8| c.is_ascii_whitespace();
    let mut spans = Vec::new();
    let mut i = 0;
    let mut after_password = false;
    loop {
        while i < n && ws(b[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let key_start = i;
        while i < n && b[i] != b'=' && !ws(b[i]) {
            i += 1;
        }
        let key = &s[key_start..i];
        while i < n && ws(b[i]) {
            i += 1;
        }
        if i >= n || b[i] != b'=' {
            // Not key=value: after an unquoted password, the rest may be the password's.
            if after_password {
                spans.push((key_start, n));
            }
            break;
        }
        i += 1;
        while i < n && ws(b[i]) {
            i += 1;
        }
        let is_password = key.eq_ignore_ascii_case("password");
        if i < n && b[i] == b'\'' {
            i += 1;
            let start = i;
            while i < n && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            let end = i.min(n);
            if is_password {
                spans.push((start, end));
            }
            i = end + 1;
        } else {
            let start = i;
            while i < n && !ws(b[i]) {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = i.min(n);
            if is_password {
                spans.push((start, i));
            }
        }
        after_password = is_password;
    }
    spans
}

/// Reads `sslmode` and `sslrootcert` out of a URL or key=value connection string.
pub fn parse(conn: &str) -> Result<ConnSpec, String> {
    let mut sslmode = SslMode::Prefer;
    let mut rootcert = None;
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let (base, query) = match conn.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (conn, None),
        };
        let mut kept = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "sslmode" => sslmode = SslMode::parse(&percent_decode(v))?,
                "sslrootcert" => rootcert = Some(PathBuf::from(percent_decode(v))),
                _ => kept.push(pair.to_string()),
            }
        }
        kept.push(format!("sslmode={}", sslmode.for_driver()));
        return Ok(ConnSpec {
            driver_string: format!("{base}?{}", kept.join("&")),
            sslmode,
            rootcert,
        });
    }
    let mut kept = Vec::new();
    for (k, v) in kv_pairs(conn)? {
        match k.as_str() {
            "sslmode" => sslmode = SslMode::parse(&v)?,
            "sslrootcert" => rootcert = Some(PathBuf::from(v)),
            _ => kept.push((k, v)),
        }
    }
    kept.push(("sslmode".into(), sslmode.for_driver().into()));
    let driver_string = kept
        .iter()
        .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(ConnSpec {
        driver_string,
        sslmode,
        rootcert,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    entrasync_crypto::rustls_provider()
}

fn roots(rootcert: Option<&PathBuf>) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut store = RootCertStore::empty();
    match rootcert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("reading sslrootcert {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("reading sslrootcert {}: {e}", path.display()))?;
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
        }
    }
    if store.is_empty() {
        return Err("no root certificates to verify the server with (set sslrootcert)".into());
    }
    Ok(store)
}

/// Accepts any certificate but checks the handshake signatures (libpq's `require`).
#[derive(Debug)]
struct NoCertCheck(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoCertCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks the chain but not the host name (libpq's `verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The TLS connector for `spec`, or None for `sslmode=disable`.
pub fn connector(spec: &ConnSpec) -> Result<Option<MakeTls>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verify_chain = |full: bool| -> Result<Arc<dyn ServerCertVerifier>, String> {
        let roots = roots(spec.rootcert.as_ref())?;
        let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(if full { v } else { Arc::new(ChainOnly(v)) })
    };
    let verifier: Arc<dyn ServerCertVerifier> = match spec.sslmode {
        SslMode::Disable => return Ok(None),
        SslMode::Allow | SslMode::Prefer => Arc::new(NoCertCheck(provider.clone())),
        SslMode::Require if spec.rootcert.is_none() => Arc::new(NoCertCheck(provider.clone())),
        SslMode::Require | SslMode::VerifyCa => verify_chain(false)?,
        SslMode::VerifyFull => verify_chain(true)?,
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(MakeTls(Arc::new(config))))
}

#[derive(Clone)]
pub struct MakeTls(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = Connect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Connect, Self::Error> {
        // Unix-socket connections have no host name (the server declines TLS there anyway).
        let domain = if domain.is_empty() || domain.starts_with('/') {
            "localhost"
        } else {
            domain
        };
        let name = ServerName::try_from(domain.to_string())?;
        Ok(Connect {
            config: self.0.clone(),
            name,
        })
    }
}

pub struct Connect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config);
            connector.connect(self.name, stream).await.map(TlsStream)
        })
    }
}

pub struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_sslmode_and_rootcert_are_taken_out() {
        let s = parse("postgres://u:p@h:5432/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x")
            .unwrap();
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(s.rootcert, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(
            s.driver_string,
            "postgres://u:p@h:5432/db?application_name=x&sslmode=require"
        );
        let s = parse("postgres://h/db").unwrap();
        assert_eq!(s.sslmode, SslMode::Prefer);
        assert_eq!(s.driver_string, "postgres://h/db?sslmode=prefer");
    }

    #[test]
    fn key_value_strings_are_rewritten() {
        let s = parse("host=h user=u password='a b\\'c' sslmode=verify-ca sslrootcert=/ca.pem")
            .unwrap();
        assert_eq!(s.sslmode, SslMode::VerifyCa);
        assert_eq!(s.rootcert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            s.driver_string,
            "host='h' user='u' password='a b\\'c' sslmode='require'"
        );
        let parsed: tokio_postgres::Config = s.driver_string.parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"a b'c"[..]));
        assert!(parse("host=h sslmode=bogus").unwrap_err().contains("bogus"));
        let e = parse("host=h password=first second").unwrap_err();
        assert!(!e.contains("second"), "{e}");
    }

    #[test]
    fn passwords_are_masked_in_every_form() {
        let cases = [
            ("postgres://u:pw@db:5432/x", "postgres://u:xxxxx@db:5432/x"),
            (
                "postgresql://u:s3cr%40t@db/x?sslmode=disable",
                "postgresql://u:xxxxx@db/x?sslmode=disable",
            ),
            ("postgres://u:p@ss@db/x", "postgres://u:xxxxx@db/x"),
            ("postgres://u:p?ss@db/x", "postgres://u:xxxxx@db/x"),
            (
                "postgres://u@db/x?sslmode=require&password=pw&application_name=a",
                "postgres://u@db/x?sslmode=require&password=xxxxx&application_name=a",
            ),
            (
                "postgres://db/x?password=pw",
                "postgres://db/x?password=xxxxx",
            ),
            (
                "postgres://u:one@db/x?password=two",
                "postgres://u:xxxxx@db/x?password=xxxxx",
            ),
            (
                "postgres://db/x?pass%77ord=pw",
                "postgres://db/x?pass%77ord=xxxxx",
            ),
            ("postgres://u@db/x", "postgres://u@db/x"),
            (
                "host=db password=hunter2 dbname=x",
                "host=db password=xxxxx dbname=x",
            ),
            (
                "host=db user=u password='p w' dbname=x",
                "host=db user=u password='xxxxx' dbname=x",
            ),
            (
                "host=db password = 'a b\\'c' dbname=x",
                "host=db password = 'xxxxx' dbname=x",
            ),
            (
                "user=password_admin password=pw",
                "user=password_admin password=xxxxx",
            ),
            ("password='never closed", "password='xxxxx"),
            ("host=db password=a b c", "host=db password=xxxxx xxxxx"),
            ("host=db dbname=x", "host=db dbname=x"),
            ("", ""),
        ];
        for (conn, masked) in cases {
            assert_eq!(mask_password(conn), masked, "{conn}");
        }
    }

    #[test]
    fn every_form_of_a_password_is_listed() {
        assert_eq!(
            passwords("postgres://u:s3cr%40t@db/x?password=a+b"),
            ["s3cr%40t", "s3cr@t", "a+b", "a b"]
        );
        assert_eq!(passwords("host=h password='a b\\'c'"), ["a b\\'c", "a b'c"]);
        assert!(passwords("host=h password=''").is_empty());
        assert!(passwords("postgres://u@h/db").is_empty());
    }

    #[test]
    fn masking_never_panics() {
        let pieces = [
            "postgres://",
            "u",
            ":",
            "@",
            "?",
            "&",
            "=",
            "password",
            "'",
            "\\",
            " ",
            "é",
            "/",
            "%",
            "%4",
            "host=",
        ];
        // Every string of up to four pieces: 16^4 = 65,536 cases.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let conn = format!("{a}{b}{c}{d}");
                        let _ = mask_password(&conn);
                        let _ = passwords(&conn);
                    }
                }
            }
        }
    }
}
