from ansible_collections.exchange.hybrid.plugins.module_utils import _clouds


def test_every_cloud_has_login_graph_and_metadata():
    for cloud in _clouds.CLOUD_CHOICES:
        assert _clouds.CLOUDS[cloud]["login"].startswith("https://")
        assert "{tenant}" in _clouds.CLOUDS[cloud]["acs_metadata"]


def test_global_acs_metadata_url_is_the_documented_one():
    assert _clouds.auth_metadata_url("global", "acs", "contoso.onmicrosoft.com") == (
        "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"
    )
