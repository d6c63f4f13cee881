"""Digital signatures of the province's documents: certificates, detached CMS signatures over a content hash,
revocation lists, and the verification every reader of a signed document performs.

Shared by the signing service, which signs, and the document-management service, which verifies. Pure: no
file I/O and no clock reads (times are arguments), except `openssl_files`, which writes the files for the
standard tool's cross-check.

A signature is a detached CMS SignedData (RFC 5652, DER), the format of the government CA's signing platform
and of `openssl cms`: the signer is sent only the SHA-256 of the document, never the document, so the
signature is built here from its parts (`asn1crypto.cms` for the structure, `cryptography` for the maths):
`cryptography` can build detached CMS only from the content itself.

Keys are EC P-256 and signatures ECDSA with SHA-256. Verification checks, in this order, that the signature
is there, parses, covers this content, is mathematically valid, chains to a trusted root, was made while
every certificate of the chain was valid, and that no certificate was revoked at or before signing time
(RFC 5280 revocation lists; a certificate no supplied list names is taken as not revoked). The time checked
is the signing time the signer states in the signed attributes: there is no timestamp authority here.
"""

from egov.platform.pki.certificates import (
    CA_ORGANISATION,
    CRL_FILE,
    ROOT_FILE,
    Identity,
    agency_name,
    ca_name,
    issue_certificate,
    load_pem_chain,
    new_key,
    official_name,
    pem,
    revocation_list,
    root_certificate,
    trust_store,
)
from egov.platform.pki.signing import sign_digest
from egov.platform.pki.verification import (
    SIGNING_TIME_SKEW,
    SignatureInvalid,
    Verified,
    openssl_files,
    verify,
)

__all__ = [
    "CA_ORGANISATION",
    "CRL_FILE",
    "ROOT_FILE",
    "SIGNING_TIME_SKEW",
    "Identity",
    "SignatureInvalid",
    "Verified",
    "agency_name",
    "ca_name",
    "issue_certificate",
    "load_pem_chain",
    "new_key",
    "official_name",
    "openssl_files",
    "pem",
    "revocation_list",
    "root_certificate",
    "sign_digest",
    "trust_store",
    "verify",
]
