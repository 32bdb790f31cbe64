//! What the operator takes from a pool's CA Secret: only certificates.

use std::fmt;

/// Why a CA Secret's value was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum CaError {
    /// No `CERTIFICATE` block at all (a password, a key, or nothing).
    NoCertificate,
    /// A `CERTIFICATE` block that is not a certificate a TLS client can trust.
    NotACertificate(usize),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::NoCertificate => write!(f, "holds no PEM CERTIFICATE block"),
            CaError::NotACertificate(i) => write!(f, "its CERTIFICATE block {i} is not an X.509 certificate"),
        }
    }
}

/// The PEM `CERTIFICATE` blocks of `raw`, each checked to be a certificate a client can trust,
/// re-encoded; everything else the value holds (a private key, text) is left behind. This is
/// what reaches the spaces' namespaces, so a Secret named by mistake (or on purpose: an admin
/// Secret) gives nothing away: its value is refused, not copied.
pub fn certificates_only(raw: &[u8]) -> Result<String, CaError> {
    let blocks = pem::parse_many(raw).map_err(|_| CaError::NoCertificate)?;
    let certificates: Vec<pem::Pem> = blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE").collect();
    if certificates.is_empty() {
        return Err(CaError::NoCertificate);
    }
    for (i, c) in certificates.iter().enumerate() {
        let mut store = rustls::RootCertStore::empty();
        store.add(rustls::pki_types::CertificateDer::from(c.contents().to_vec())).map_err(|_| CaError::NotACertificate(i + 1))?;
    }
    Ok(pem::encode_many(&certificates))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate (openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256).
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBnjCCAUWgAwIBAgIUDDCj/tQtv9YIkQsRcGlh+KhWrb0wCgYIKoZIzj0EAwIw
JTEjMCEGA1UEAwwaZnJhbWFzcGFjZS10ZXN0LXByaXZhdGUtY2EwHhcNMjYxMjA1
MDg0NTAyWhcNMzYxMjAyMDg0NTAyWjAlMSMwIQYDVQQDDBpmcmFtYXNwYWNlLXRl
c3QtcHJpdmF0ZS1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFPvT1QD6qsS
GZHHXdy9NA46abc/drh7uayvVEgJVvrSbPwbN3cUkFKXAJdr1ONQuSDVE7jt7D7+
MiqXL5R2UHijUzBRMB0GA1UdDgQWBBQC5ekkXf3lw40A2JUyaEiu7As9zDAfBgNV
HSMEGDAWgBQC5ekkXf3lw40A2JUyaEiu7As9zDAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0cAMEQCIB+/qpUqUaH80WrLtRnfD4YakxmEBRrAagoOW4aTz/i+
AiBTC/iUoQHted95JOxqoYyh9DqzukgYMfxpH7u1bSTWFQ==
-----END CERTIFICATE-----
";

    #[test]
    fn only_certificates_are_taken() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
        let taken = certificates_only(format!("{key}{CA}").as_bytes()).expect("the certificate");
        assert!(taken.contains("BEGIN CERTIFICATE") && !taken.contains("PRIVATE KEY"), "{taken}");
        assert_eq!(certificates_only(b"s3cr3t-admin-password"), Err(CaError::NoCertificate), "a password is refused, not copied");
        assert_eq!(certificates_only(key.as_bytes()), Err(CaError::NoCertificate));
        let fake = "-----BEGIN CERTIFICATE-----\nczNjcjN0LWFkbWluLXBhc3N3b3Jk\n-----END CERTIFICATE-----\n";
        assert_eq!(certificates_only(fake.as_bytes()), Err(CaError::NotACertificate(1)), "a password dressed as PEM too");
    }
}
