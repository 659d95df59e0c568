"""Every output says it is synthetic, which engine and model made it, and whose likeness it carries under
which release: recorded on the shot, copied into EXR, PNG and MP4 outputs, and read back by `verify`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_convert import FIRST, convert, make_job


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos):
    return make_job(tmp_path_factory.mktemp("provenance"), photos, frames=2)


def facegraft(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *map(str, args)], capture_output=True, text=True
    )


def verify(*files) -> tuple[int, list[dict]]:
    run = facegraft("verify", *files, "--progress", "json")
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def test_without_a_release_convert_warns_once_and_says_none_recorded(world, tmp_path):
    run = convert(world, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("no likeness release recorded") == 1
    code, (report,) = verify(tmp_path / "out" / f"plate.{FIRST:04d}.exr")
    assert code == 0 and report["synthetic"] is True and report["release"] == "none recorded"


def test_a_recorded_release_travels_into_exr_png_and_mp4(world, tmp_path):
    made = facegraft(
        "release", "set", world["shot"], "--identity", "Eileen Collins", "--reference", "LR-2026-0042"
    )
    assert made.returncode == 0, made.stderr
    shown = json.loads(facegraft("release", "show", world["shot"]).stdout)
    assert shown["identity"] == "Eileen Collins" and shown["reference"] == "LR-2026-0042"
    files = []
    for fmt, name in (
        ("exr", f"plate.{FIRST:04d}.exr"),
        ("png", f"plate.comp.{FIRST:04d}.png"),
        ("mp4", "plate.mp4"),
    ):
        run = convert(world, tmp_path / fmt, "--format", fmt)
        assert run.returncode == 0 and "no likeness release" not in run.stderr, run.stderr
        files.append(tmp_path / fmt / name)
    code, reports = verify(*files)
    assert code == 0 and len(reports) == 3
    for report in reports:
        assert report["synthetic"] is True, report
        assert report["identity"] == "Eileen Collins" and report["release"] == "LR-2026-0042", report
        assert report["model"] and report["config"] and report["version"], report


def test_verify_says_when_a_file_is_not_marked_or_not_there(world, tmp_path):
    plate = str(world["plate"]).replace("####", f"{FIRST:04d}")
    run = facegraft("verify", plate)
    assert run.returncode == 1 and "NOT marked as synthetic" in run.stdout
    run = facegraft("verify", tmp_path / "missing.exr")
    assert run.returncode == 2 and "no such file" in run.stderr


def throwaway_signer(folder) -> tuple[str, str]:
    """A test CA and an ES256 signing certificate under it (C2PA rejects self-signed signers)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "facegraft tests"),
            ]
        )

    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only",
         "decipher_only"),
        False,
    )  # fmt: skip
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject, public, issuer_key, ca):
        b = (
            x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("facegraft test CA"))
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )  # fmt: skip
        if not ca:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        return b.sign(issuer_key, hashes.SHA256())

    root = cert("facegraft test CA", ca_key.public_key(), ca_key, True)
    leaf = cert("facegraft test signer", key.public_key(), ca_key, False)
    (folder / "signer.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)
    )
    (folder / "signer.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(folder / "signer.key"), str(folder / "signer.pem")


def test_deliverables_carry_a_signed_c2pa_manifest_of_trained_algorithmic_media(world, tmp_path):
    facegraft("release", "set", world["shot"], "--identity", "Eileen Collins", "--reference", "LR-2026-0042")
    key, cert = throwaway_signer(tmp_path)
    files = []
    for fmt, name in (("mp4", "plate.mp4"), ("png", f"plate.comp.{FIRST:04d}.png")):
        run = convert(world, tmp_path / fmt, "--format", fmt, "--sign-key", key, "--sign-cert", cert)
        assert run.returncode == 0, run.stderr
        files.append(tmp_path / fmt / name)
    code, reports = verify(*files)
    assert code == 0
    for report in reports:
        m = report["c2pa"]
        assert m is not None and m["validation"] in ("Valid", "Trusted"), m
        assert m["digital_source_type"].endswith("trainedAlgorithmicMedia") and m["generator"].startswith(
            "facegraft"
        )
        assert m["facts"]["identity"] == "Eileen Collins" and m["facts"]["synthetic"] is True
        assert report["identity"] == "Eileen Collins", "the metadata tags survive the manifest"
    tampered = tmp_path / "tampered.png"
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    code, (report,) = verify(tampered)
    assert report["c2pa"] is None or report["c2pa"]["validation"] == "Invalid", report["c2pa"]


def test_signing_an_exr_sequence_is_refused_clearly(world, tmp_path):
    key, cert = throwaway_signer(tmp_path)
    run = convert(world, tmp_path / "exr", "--sign-key", key, "--sign-cert", cert)
    assert run.returncode == 2 and "sidecar manifests for EXR sequences are not written yet" in run.stderr
    run = convert(world, tmp_path / "mp4", "--format", "mp4", "--sign-key", key)
    assert run.returncode == 2 and "both --sign-key and --sign-cert" in run.stderr
