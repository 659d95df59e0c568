"""C2PA manifests for deliverables (MP4, MOV, PNG, JPEG): a signed statement, embedded in the file, that
it was made with a trained algorithm (`c2pa.created` with digitalSourceType trainedAlgorithmicMedia), by
which engine, model and configuration, with whose likeness under which release, and from which plate
(an ingredient when its format allows, named in the facegraft assertion otherwise).

Signing uses the user's private key and certificate chain (PEM); `read` gives back what `verify` reports,
with the reasons a manifest fails validation in words. EXR sequences get a sidecar instead (c2pa_sidecar.py).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from facegraft import __version__
from facegraft.errors import InputError
from facegraft.io.atomic import replacing

TRAINED_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}
ASSERTION = "com.facegraft.provenance"


@dataclass(frozen=True)
class SigningKey:
    """A PEM private key and its certificate chain (signer first), and the algorithm the key implies."""

    key_pem: bytes
    cert_pem: bytes
    alg: str


def load_signing_key(key_path: str | Path, cert_path: str | Path) -> SigningKey:
    """Read and check a key and certificate chain; InputError naming the file on any problem."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key_pem = Path(key_path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the signing key ({exc.strerror})", key_path) from exc
    try:
        cert_pem = Path(cert_path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the signing certificate ({exc.strerror})", cert_path) from exc
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not an unencrypted PEM private key ({exc})", key_path) from exc
    if b"BEGIN CERTIFICATE" not in cert_pem:
        raise InputError("not a PEM certificate chain", cert_path)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size)
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = "PS256"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "ED25519"
    else:
        alg = None
    if alg is None:
        raise InputError("the signing key must be EC (P-256/384/521), RSA or Ed25519", key_path)
    return SigningKey(key_pem, cert_pem, alg)


def manifest(title: str, facts: dict[str, str]) -> dict:
    """The manifest definition: created by a trained algorithm, with facegraft's own facts."""
    return {
        "claim_generator_info": [{"name": "facegraft", "version": __version__}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_MEDIA,
                            "softwareAgent": {"name": "facegraft", "version": __version__},
                        }
                    ]
                },
            },
            {"label": ASSERTION, "data": {"synthetic": True, **facts}},
        ],
    }


# c2pa's default claim thumbnail of a 16-bit PNG frame is a PNG several times the frame's size (4.6 MB for
# a 0.7 MB 480x360 comp) and costs a second per frame; a JPEG thumbnail is ~0.1 MB.
SETTINGS = {"builder": {"thumbnail": {"format": "jpeg", "quality": "medium"}}}


def make_builder(definition: dict):
    """A c2pa Builder for a manifest definition, with facegraft's settings (the caller closes it)."""
    import c2pa

    return c2pa.Builder(json.dumps(definition), context=c2pa.Context(c2pa.Settings.from_dict(SETTINGS)))


def make_signer(signing: SigningKey):
    """A c2pa Signer for the key (the caller closes it)."""
    import c2pa

    info = c2pa.C2paSignerInfo(
        getattr(c2pa.C2paSigningAlg, signing.alg), signing.cert_pem, signing.key_pem, None
    )
    return c2pa.Signer.from_info(info)


def sign_file(
    path: str | Path, signing: SigningKey, facts: dict[str, str], plate: str | Path | None = None
) -> None:
    """Embed a signed manifest into `path` (written to a temporary name, then renamed into place)."""
    import c2pa

    path = Path(path)
    if path.suffix.lower() not in MIME:
        raise InputError(f"C2PA manifests are embedded in {', '.join(sorted(MIME))} files", path)
    builder = make_builder(manifest(path.name, facts))
    if plate is not None and Path(plate).is_file() and Path(plate).suffix.lower() in MIME:
        with open(plate, "rb") as fh:
            ingredient = {"title": Path(plate).name, "relationship": "inputTo"}
            builder.add_ingredient(json.dumps(ingredient), MIME[Path(plate).suffix.lower()], fh)
    signer = make_signer(signing)
    try:
        with replacing(path, "the signed file", keep_extension=True) as tmp:  # c2pa reads the type by name
            builder.sign_file(str(path), str(tmp), signer)
    except c2pa.C2paError as exc:
        raise InputError(f"C2PA signing failed ({exc})", path) from exc
        signer.close()
        builder.close()


def read(path: str | Path) -> dict | None:
    """What the embedded manifest says (see `summarise`), or None when the file carries none.

    A manifest too damaged to parse is reported as Invalid with the reason, not as no manifest."""
    import c2pa

    path = Path(path)
    if path.suffix.lower() not in MIME:
        return None
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader(MIME[path.suffix.lower()], io.BytesIO(fh.read()))
    except c2pa.C2paError.ManifestNotFound:
        return None
    except c2pa.C2paError as exc:
        return damaged(f"the C2PA manifest in {path.name} is damaged and cannot be read ({exc})")
    try:
        return summarise(
            json.loads(reader.json()), reader.get_validation_state(), reader.get_validation_results()
        )
    finally:
        reader.close()


def damaged(message: str) -> dict:
    """The report for a manifest that cannot be parsed at all."""
    return {
        "validation": "Invalid",
        "generator": None,
        "digital_source_type": None,
        "facts": {},
        "ingredients": [],
        "errors": [message],
    }


def summarise(store: dict, state: object, results: dict | None) -> dict:
    """A manifest store's verdict and statements: {'validation' (Valid, Trusted or Invalid), 'generator',
    'digital_source_type', 'facts' (the facegraft assertion), 'ingredients', 'errors' (why it failed)}."""
    active = active_manifest(store)
    out: dict = {"validation": str(state), "generator": None, "digital_source_type": None, "facts": {}}
    generators = active.get("claim_generator_info") or []
    if generators:
        out["generator"] = f"{generators[0].get('name')} {generators[0].get('version', '')}".strip()
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                out["digital_source_type"] = action.get("digitalSourceType") or out["digital_source_type"]
        elif assertion.get("label") == ASSERTION:
            out["facts"] = assertion.get("data", {})
    out["ingredients"] = [i.get("title") for i in active.get("ingredients", [])]
    out["errors"] = failures(results)
    return out


def active_manifest(store: dict) -> dict:
    """The active manifest of a manifest store's JSON report ({} when there is none)."""
    return store.get("manifests", {}).get(store.get("active_manifest", ""), {})


def assertion_data(store: dict, label: str) -> dict | None:
    """The data of the active manifest's assertion `label`, or None."""
    for assertion in active_manifest(store).get("assertions", []):
        if assertion.get("label") == label:
            return assertion.get("data")
    return None


_HARD_BINDINGS = (
    "assertion.dataHash.",
    "assertion.bmffHash.",
    "assertion.boxesHash.",
    "assertion.collectionHash.",
)


def failures(results: dict | None) -> list[str]:
    """Why the active manifest failed validation, one sentence each (an untrusted signer is not a failure:
    the state says Valid rather than Trusted)."""
    out = []
    for item in ((results or {}).get("activeManifest") or {}).get("failure", []):
        code, explanation = item.get("code", ""), item.get("explanation", "")
        if code == "signingCredential.untrusted":
            continue
        if code.startswith(_HARD_BINDINGS) and code.endswith("mismatch"):
            message = "the content changed after signing: its hash is not the signed one"
        elif code == "assertion.hashedURI.mismatch":
            message = "an assertion of the manifest was altered after signing"
        elif code == "claimSignature.mismatch":
            message = "the manifest was altered after signing: its signature does not match its claim"
        else:
            message = explanation or "validation failed"
        out.append(f"{message} ({code})")
    return out
