"""Every output says it is synthetic, which engine and model made it, and whose likeness it carries under
which release: recorded on the shot, copied into EXR, PNG and MP4 outputs, and read back by `verify`."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import zlib

import pytest
from test_convert import FIRST, convert, make_job


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos):
    job = make_job(tmp_path_factory.mktemp("provenance"), photos, frames=2)
    shutil.copytree(job["shot"], job["root"] / "unreleased_shot")  # before any test records a release
    return job


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
    assert (
        run.returncode == 0
        and "NOT marked as synthetic" in run.stdout
        and "watermark: not found" in run.stdout
    )
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


def flip_a_picture_bit(mp4: bytes) -> bytes:
    """The MP4 with one bit flipped in the middle of its coded pictures (the mdat box)."""
    at = 0
    while at + 8 <= len(mp4):
        size = int.from_bytes(mp4[at : at + 4], "big")
        if mp4[at + 4 : at + 8] == b"mdat":
            out = bytearray(mp4)
            out[at + size // 2] ^= 0x01
            return bytes(out)
        assert size >= 8, "no 64-bit or open-ended boxes in these small files"
        at += size
    raise AssertionError("no mdat box")


def edit_png_text(png: bytes, old: bytes, new: bytes) -> bytes:
    """The PNG with `old` replaced by `new` (same length) in its tEXt chunks, their CRCs fixed so it reads."""
    out, at = bytearray(png), 8
    while at + 8 <= len(png):
        size = int.from_bytes(png[at : at + 4], "big")
        if png[at + 4 : at + 8] == b"tEXt" and old in png[at + 8 : at + 8 + size]:
            out[at + 8 : at + 8 + size] = png[at + 8 : at + 8 + size].replace(old, new)
            out[at + 8 + size : at + 12 + size] = zlib.crc32(out[at + 4 : at + 8 + size]).to_bytes(4, "big")
        at += 12 + size
    assert out != png
    return bytes(out)


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
    (tmp_path / "tampered.mp4").write_bytes(flip_a_picture_bit(files[0].read_bytes()))
    (tmp_path / "tampered.png").write_bytes(edit_png_text(files[1].read_bytes(), b"Eileen", b"Gloria"))
    code, reports = verify(tmp_path / "tampered.mp4", tmp_path / "tampered.png")
    assert code == 0 and len(reports) == 2
    for report in reports:
        m = report["c2pa"]
        assert m["validation"] == "Invalid", m
        assert any("changed after signing" in e for e in m["errors"]), m["errors"]


def sidecar_files(path) -> dict[str, str]:
    """The file names and SHA-256 a sidecar manifest store signs, read with c2pa directly."""
    import c2pa

    with c2pa.Reader("application/c2pa", io.BytesIO(path.read_bytes())) as reader:
        store = json.loads(reader.json())
    active = store["manifests"][store["active_manifest"]]
    (frames,) = [a["data"] for a in active["assertions"] if a["label"] == "com.facegraft.frames"]
    return {f["name"]: f["sha256"] for f in frames["files"]}


def test_an_exr_sequence_converted_in_chunks_gets_one_signed_sidecar_covering_every_frame(world, tmp_path):
    key, cert = throwaway_signer(tmp_path)
    out, sign = tmp_path / "exr", ("--sign-key", key, "--sign-cert", cert)
    for frame in (FIRST, FIRST + 1):  # a farm's two chunks, one after the other
        run = convert(world, out, "--layout", "files", "--frames", frame, *sign)
        assert run.returncode == 0, run.stderr
        written = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.glob("plate.*.exr")}
        assert len(written) == 4 * (frame - FIRST + 1), sorted(written)
        assert sidecar_files(out / "plate.c2pa") == written, "the sidecar signs exactly the files on disk"

    code, (report,) = verify(out / "plate.comp.####.exr")
    m = report["c2pa"]
    assert code == 0 and report["synthetic"] is True
    assert m["validation"] in ("Valid", "Trusted") and m["errors"] == [], m
    assert m["digital_source_type"].endswith("trainedAlgorithmicMedia") and m["generator"].startswith(
        "facegraft"
    )
    assert m["facts"]["synthetic"] is True and m["facts"]["model"] == report["model"]
    assert m["manifest"] == str(out / "plate.c2pa") and m["frames"]["signed"] == 8
    assert m["frames"]["matching"] == [f"plate.comp.{FIRST:04d}.exr", f"plate.comp.{FIRST + 1:04d}.exr"]

    frame = out / f"plate.comp.{FIRST + 1:04d}.exr"
    data = bytearray(frame.read_bytes())
    value = data.index(b"facegraft/plate\0string\0") + 27  # after the attribute's name, type and size
    data[value] ^= 0x20  # one byte of a header value: "plate..." becomes "Plate..."
    frame.write_bytes(bytes(data))
    code, (report,) = verify(out / "plate.comp.####.exr")
    m = report["c2pa"]
    assert code == 0 and m["validation"] == "Invalid", m
    assert m["errors"][0].startswith(f"{frame.name} changed after signing"), m["errors"]
    assert m["frames"]["changed"] == [frame.name] and m["frames"]["matching"] == [
        f"plate.comp.{FIRST:04d}.exr"
    ]
    code, (report,) = verify(out / f"plate.comp.{FIRST:04d}.exr")
    assert report["c2pa"]["validation"] in ("Valid", "Trusted"), "an untouched frame still verifies alone"


def test_signing_needs_a_key_and_a_certificate_and_a_format_that_carries_a_manifest(world, tmp_path):
    key, cert = throwaway_signer(tmp_path)
    run = convert(world, tmp_path / "mp4", "--format", "mp4", "--sign-key", key)
    assert run.returncode == 2 and "both --sign-key and --sign-cert" in run.stderr
    run = convert(world, tmp_path / "tiff", "--format", "tiff", "--sign-key", key, "--sign-cert", cert)
    assert run.returncode == 2 and "not in tiff files" in run.stderr


def test_a_project_release_covers_its_shots_unless_a_shot_records_its_own(world, tmp_path):
    project = tmp_path / "show"
    shot = project / "seq010" / "shot010"
    shutil.copytree(world["root"] / "unreleased_shot", shot)
    assert json.loads(facegraft("release", "show", shot).stdout) == {}

    made = facegraft(
        "release", "set", "--project", project, "--identity", "Grace Hopper", "--reference", "LR-7"
    )
    assert made.returncode == 0, made.stderr
    on_disk = json.loads((project / "facegraft-project.json").read_text())
    assert on_disk["format"] == "facegraft-project" and on_disk["version"] == 1
    shown = json.loads(facegraft("release", "show", shot).stdout)
    assert (shown["identity"], shown["reference"], shown["source"]) == ("Grace Hopper", "LR-7", "project")
    assert shown["file"] == str((project / "facegraft-project.json").resolve())

    run = convert({**world, "shot": shot}, tmp_path / "out", "--frames", FIRST)
    assert run.returncode == 0 and "no likeness release" not in run.stderr, run.stderr
    code, (report,) = verify(tmp_path / "out" / f"plate.{FIRST:04d}.exr")
    assert report["identity"] == "Grace Hopper" and report["release"] == "LR-7", report

    (project / "seq010" / "facegraft-project.json").write_text("{")  # a broken, nearer project file
    run = facegraft("release", "show", shot)
    assert run.returncode == 2 and "seq010/facegraft-project.json" in run.stderr, run.stderr
    (project / "seq010" / "facegraft-project.json").unlink()

    facegraft("release", "set", shot, "--identity", "Eileen Collins", "--reference", "LR-8")
    shown = json.loads(facegraft("release", "show", shot).stdout)
    assert (shown["identity"], shown["reference"], shown["source"]) == ("Eileen Collins", "LR-8", "shot")
    run = facegraft("release", "set", "--identity", "X", "--reference", "Y")
    assert run.returncode == 2 and "either a shot folder" in run.stderr
