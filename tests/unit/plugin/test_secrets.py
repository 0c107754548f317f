"""Passwords, tokens and private keys never reach the terminal, logs, JUnit XML or the HTML report."""
import logging

from conftest import PASSWORD


def test_cloud_password_never_appears_anywhere(pytester, clouds, closed_port_cloud):
    clouds({"lab": closed_port_cloud(), "lab-admin": closed_port_cloud(password=PASSWORD + "-admin")})
    pytester.makepyfile(f"""
        import logging, openstack.config
        def test_prints_the_config(capsys):
            region = openstack.config.OpenStackConfig().get_one(cloud="lab")
            print("config:", region.config)
            logging.getLogger("some.lib").warning("auth %s", region.config["auth"])
            logging.getLogger("x").error("admin password is {PASSWORD}-admin")
            assert region.config["auth"]["password"] == "wrong", region.config
        def test_connects(cloud):
            pass
    """)
    result = pytester.runpytest("--cloud", "lab", "--oslab-api-timeout", "5", "-rA", "--log-level=DEBUG",
                                "--junitxml=report.xml", "--html=report.html", "--self-contained-html")
    result.assert_outcomes(failed=1, errors=1)
    texts = [result.stdout.str(), result.stderr.str(), (pytester.path / "report.xml").read_text(),
             (pytester.path / "report.html").read_text()]
    for text in texts:
        assert PASSWORD not in text
    assert "<redacted>" in texts[0] and "&lt;redacted&gt;" in texts[2]


def test_private_key_of_the_keypair_is_registered_as_secret():
    from pytest_oslab.provision.resources import generate_keypair
    from pytest_oslab.secrets import SECRETS
    key = generate_keypair("oslab-test-key")
    body = [line for line in key.private_key.splitlines() if not line.startswith("-----")]
    assert body and all(SECRETS.redact(line) == "<redacted>" for line in body)
    assert "PRIVATE" not in repr(key) and key.public_key.startswith("ssh-ed25519 ")


def test_private_key_file_is_0600(tmp_path):
    from pytest_oslab.provision.resources import generate_keypair
    path = generate_keypair("oslab-test-key").write_private_key(str(tmp_path / "key"))
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600 and "PRIVATE KEY" in open(path).read()


def test_log_records_are_masked_whatever_the_handler(caplog):
    from pytest_oslab.secrets import SECRETS, install_log_redaction
    install_log_redaction()
    SECRETS.add("tok-0123456789abcdef")
    with caplog.at_level(logging.INFO):
        logging.getLogger("keystoneauth").info("X-Auth-Token: %s", "tok-0123456789abcdef")
    assert "tok-0123456789abcdef" not in caplog.text and "X-Auth-Token: <redacted>" in caplog.text


def test_secret_keys_are_found_in_nested_config():
    from pytest_oslab.secrets import Secrets
    s = Secrets()
    s.add_from_mapping({"auth": {"password": "p4ssw0rd!", "username": "bob"},
                        "x": [{"application_credential_secret": "appcred-xyz"}]})
    assert s.redact("bob p4ssw0rd! appcred-xyz") == "bob <redacted> <redacted>"
