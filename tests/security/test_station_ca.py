"""The operator's station CA: embedded (generated once under the data dir) or configured."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509

from runtime.settings import Settings
from runtime.station_ca import check_csr, sign_csr, station_ca
from tests.gateway.certificates import Pki, csr


def test_the_embedded_ca_is_generated_once_and_kept(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    first = station_ca(settings)
    key_file = tmp_path / "data" / "station_ca" / "ca.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert station_ca(Settings(data_dir=tmp_path / "data")).certificate == first.certificate
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["station_ca"]  # no staging left
    request, key = csr("ST-1")
    signed = sign_csr(first, check_csr(request, "ST-1"))
    signed.certificate.verify_directly_issued_by(first.certificate)
    assert signed.certificate.public_key() == key.public_key()


def test_a_configured_ca_signs_and_both_files_are_needed(tmp_path):
    pki = Pki(tmp_path)
    settings = Settings(station_ca_cert_file=pki.ca_file, station_ca_key_file=pki.ca_key_file)
    assert station_ca(settings).certificate == pki.cert
    assert not (tmp_path / "station_ca").exists()
    with pytest.raises(ValueError, match="set both"):
        station_ca(Settings(station_ca_cert_file=pki.ca_file))
