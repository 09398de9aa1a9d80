//! What a failed TLS handshake means, in the words of the setting to
//! change. Every connector's driver reports certificate problems as text
//! (rustls's, under each driver's own wrapping); this reads that text once
//! for all of them.

/// Why a server's certificate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertProblem {
    /// Not signed by an authority the client trusts.
    UnknownIssuer,
    /// Valid, but not for the host name connected to.
    WrongHost,
    /// Outside its validity dates.
    Expired,
    /// Any other refusal of the certificate.
    Other,
}

impl CertProblem {
    /// Reads a driver's error text; `None` when it is not about the
    /// server's certificate.
    pub fn of(text: &str) -> Option<Self> {
        let t = text.to_lowercase();
        if t.contains("unknownissuer") || t.contains("unknown issuer") || t.contains("unknown_issuer") {
            Some(Self::UnknownIssuer)
        } else if t.contains("not valid for name")
            || t.contains("notvalidforname")
            || t.contains("hostname mismatch")
            || t.contains("certificate is only valid for")
        {
            Some(Self::WrongHost)
        } else if t.contains("certificate expired") || t.contains("expired") && t.contains("certificate") {
            Some(Self::Expired)
        } else if t.contains("invalid peer certificate") || t.contains("invalidcertificate") {
            Some(Self::Other)
        } else {
            None
        }
    }

    /// One sentence: what is wrong and which setting fixes it. `ca` names
    /// the setting holding the trusted authority, `host` the host name's.
    pub fn explain(self, ca: &str, host: &str) -> String {
        match self {
            Self::UnknownIssuer => format!(
                "the server's certificate is not signed by an authority this machine trusts: set {ca} to the file of the CA that signed it"
            ),
            Self::WrongHost => format!(
                "the server's certificate is not valid for the host name connected to: check {host} (through a tunnel, name the host the certificate was issued for)"
            ),
            Self::Expired => "the server's certificate has expired (or is not valid yet): the server needs a current certificate; check this machine's clock".to_string(),
            Self::Other => format!("the server's certificate was refused: check {ca} and {host}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_refusals_are_told_apart() {
        let cases = [
            ("invalid peer certificate: UnknownIssuer", Some(CertProblem::UnknownIssuer)),
            (
                "invalid peer certificate: certificate not valid for name \"localhost\"; certificate is only valid for DnsName(\"db.invalid\")",
                Some(CertProblem::WrongHost),
            ),
            (
                "invalid peer certificate: certificate expired: verification time 1790000000 (UNIX), but certificate is not valid after 1609459199 (UNIX)",
                Some(CertProblem::Expired),
            ),
            ("invalid peer certificate: BadSignature", Some(CertProblem::Other)),
            ("Connection refused (os error 111)", None),
        ];
        for (text, want) in cases {
            assert_eq!(CertProblem::of(text), want, "{text}");
        }
        let s = CertProblem::UnknownIssuer.explain("DB_SSLROOTCERT", "DB_HOST");
        assert!(s.contains("set DB_SSLROOTCERT"), "{s}");
        let s = CertProblem::WrongHost.explain("DB_SSLROOTCERT", "DB_HOST");
        assert!(s.contains("check DB_HOST"), "{s}");
    }
}
