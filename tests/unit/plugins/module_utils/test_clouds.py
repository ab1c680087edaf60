from ansible_collections.exchange.hybrid.plugins.module_utils import _clouds


def test_every_cloud_has_login_graph_and_evosts_metadata():
    for cloud in _clouds.CLOUD_CHOICES:
        assert _clouds.CLOUDS[cloud]["login"].startswith("https://")
        assert _clouds.CLOUDS[cloud]["graph"].startswith("https://")
        assert "{tenant}" in _clouds.CLOUDS[cloud]["evosts_metadata"]
        acs = _clouds.CLOUDS[cloud]["acs_metadata"]
        assert acs is None or "{tenant}" in acs


def test_bleu_and_delos_as_microsofts_script_knows_them():
    # CSS-Exchange Shared/AzureFunctions/Get-CloudServiceEndpoint.ps1: BleuCloud and DelosCloud
    assert _clouds.CLOUDS["bleu"]["login"] == "https://login.sovcloud-identity.fr"
    assert _clouds.CLOUDS["bleu"]["graph"] == "https://graph.svc.sovcloud.fr"
    assert _clouds.CLOUDS["delos"]["login"] == "https://login.sovcloud-identity.de"
    assert _clouds.CLOUDS["delos"]["graph"] == "https://graph.svc.sovcloud.de"
    # no ACS metadata URL is published for them: the AuthServer module asks for auth_metadata_url instead
    assert _clouds.auth_metadata_url("bleu", "acs", "contoso.onmicrosoft.com") is None
    assert _clouds.auth_metadata_url("delos", "azure_ad", "tid").startswith("https://login.sovcloud-identity.de/tid/")


def test_global_acs_metadata_url_is_the_documented_one():
    assert _clouds.auth_metadata_url("global", "acs", "contoso.onmicrosoft.com") == (
        "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"
    )
