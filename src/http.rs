//! The one HTTP and TLS setup, shared by the Loki source (queries and the websocket tail)
//! and the notifiers (Slack, Alertmanager, webhooks, the LLM explainer).
//!
//! TLS is rustls on the ring provider (lighter to build than aws-lc-rs), trusting the
//! system roots plus an optional CA file; every client says `loganomaly/<version>`.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{pem::PemObject, CertificateDer};

/// Sent as `User-Agent` on every request.
pub const USER_AGENT: &str = concat!("loganomaly/", env!("CARGO_PKG_VERSION"));

/// Why TLS or an HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The CA file is unreadable or holds no usable certificate (the message names it).
    #[error("{0}")]
    CaFile(String),
    /// rustls or reqwest refused the settings.
    #[error("{0}")]
    Build(String),
}

/// The ring provider, installed once as the process default (for any TLS user that does
/// not take a configuration; one installed already by an embedding program is kept).
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(rustls::crypto::ring::default_provider())
    }))
}

/// The rustls client configuration: the system roots plus the certificates of `ca_file`.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        add_ca_file(&mut roots, path)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Build(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Adds every certificate of a PEM file; a file with none usable is an error.
fn add_ca_file(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), HttpError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| HttpError::CaFile(format!("{}: {e}", path.display())))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(HttpError::CaFile(format!(
            "{}: no usable certificate",
            path.display()
        )));
    }
    Ok(())
}

/// A reqwest builder with TLS from `tls`, the user agent and a request `timeout`; the
/// caller adds what is its own (default headers, connect timeout) and builds.
pub fn builder(tls: &rustls::ClientConfig, timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .user_agent(USER_AGENT)
        .timeout(timeout)
}

/// A client trusting the system roots, with a request `timeout`: the notifiers' client.
pub fn client(timeout: Duration) -> Result<reqwest::Client, HttpError> {
    builder(&*tls_config(None)?, timeout)
        .build()
        .map_err(|e| HttpError::Build(e.without_url().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = tls_config(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("ca.pem") && err.contains("no usable"), "{err}");
        let missing = tls_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(
            missing.to_string().starts_with("/nonexistent/ca.pem"),
            "{missing}"
        );
        assert!(client(Duration::from_secs(1)).is_ok());
    }
}
