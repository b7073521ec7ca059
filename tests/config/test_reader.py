"""Loading settings from TOML and the environment, and every way a config can be wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from execgate.config import (
    AuditSettings,
    CacheSettings,
    ClientSettings,
    ConfigError,
    HTTPSettings,
    InstanceSettings,
    LimitSettings,
    MCPSettings,
    ServerSettings,
    Settings,
    SharedSettings,
    load_settings,
    read_audit_path,
)
from execgate.domain.access import Action
from execgate.domain.models import BackendKind

REPO = Path(__file__).resolve().parents[2]
TEAM_ID = "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"
TEAM_SECRET = "sdk_T0ps3cret-team-token"
N8N_SECRET = "n8n-T0ps3cret-api-key"
ENV = {"ACME_SDK_TOKEN": TEAM_SECRET, "N8N_PROD_API_KEY": N8N_SECRET}

# The configuration exactly as the documentation shows it.
DOCUMENTED = """\
[[instances]]
name = "acme"                  # unique; letters, digits, '-' and '_'
kind = "team"                  # team-style REST API
base_url = "http://127.0.0.1:9101"
team_id = "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"
token_env = "ACME_SDK_TOKEN"   # environment variable that holds the Bearer SDK token

[[instances]]
name = "n8n-prod"
kind = "n8n"                   # n8n public API, served under {base_url}/api/v1
base_url = "http://127.0.0.1:9102"
api_key_env = "N8N_PROD_API_KEY"   # environment variable that holds the X-N8N-API-KEY value
"""

TEAM = """\
[[instances]]
name = "acme"
kind = "team"
base_url = "http://127.0.0.1:9101"
team_id = "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"
token_env = "ACME_SDK_TOKEN"
"""

N8N = """\
[[instances]]
name = "n8n-prod"
kind = "n8n"
base_url = "http://127.0.0.1:9102"
api_key_env = "N8N_PROD_API_KEY"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "instances.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    return load_settings(write(tmp_path, text), ENV if environ is None else environ)


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The problems a broken config reports; also checks the message's shape and secrecy."""
    path = write(tmp_path, text)
    env = ENV if environ is None else environ
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env)
    error = caught.value
    message = str(error)
    assert str(path) in message.splitlines()[0]
    assert message.splitlines()[1:] == [f"  {p}" for p in error.problems]
    assert "Traceback" not in message
    for secret in env.values():
        if secret.strip():
            assert secret.strip() not in message
    return error.problems


def only(found: tuple[str, ...]) -> str:
    assert len(found) == 1, found
    return found[0]


# -- a good config ---------------------------------------------------------------------------


def test_documented_config_loads_exactly_as_written(tmp_path: Path) -> None:
    # given
    path = write(tmp_path, DOCUMENTED)
    # when
    settings = load_settings(path, ENV)
    # then
    assert settings == Settings(
        instances=(
            InstanceSettings(
                name="acme",
                kind=BackendKind.TEAM,
                base_url="http://127.0.0.1:9101",
                credential=TEAM_SECRET,
                team_id=TEAM_ID,
                http=HTTPSettings(),
            ),
            InstanceSettings(
                name="n8n-prod",
                kind=BackendKind.N8N,
                base_url="http://127.0.0.1:9102",
                credential=N8N_SECRET,
                team_id=None,
                http=HTTPSettings(),
            ),
        ),
        source=str(path),
    )


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    settings = load(tmp_path, DOCUMENTED)
    for text in (repr(settings), str(settings), repr(settings.instances[0])):
        assert TEAM_SECRET not in text
        assert N8N_SECRET not in text
    assert "acme" in repr(settings)
    assert settings.instances[0].credential == TEAM_SECRET


def test_environment_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_SDK_TOKEN", "from-os-environ")
    settings = load_settings(write(tmp_path, TEAM))
    assert settings.instances[0].credential == "from-os-environ"


def test_credential_surrounding_whitespace_is_dropped(tmp_path: Path) -> None:
    settings = load(tmp_path, TEAM, {"ACME_SDK_TOKEN": "  tok-123\n"})
    assert settings.instances[0].credential == "tok-123"


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("http://127.0.0.1:9101/", "http://127.0.0.1:9101"),
        ("https://n8n.example.com//", "https://n8n.example.com"),
        ("http://proxy.internal/n8n/", "http://proxy.internal/n8n"),
        ("http://[::1]:9102", "http://[::1]:9102"),
    ],
)
def test_base_url_is_normalised_without_trailing_slash(
    tmp_path: Path, written: str, normalised: str
) -> None:
    settings = load(tmp_path, N8N.replace("http://127.0.0.1:9102", written))
    assert settings.instances[0].base_url == normalised


def test_optional_transport_keys_build_http_settings(tmp_path: Path) -> None:
    # given: one instance with every optional key, one integer given for a float
    text = TEAM + (
        "timeout_seconds = 2.5\nconnect_timeout_seconds = 1\nmutation_timeout_seconds = 12.0\n"
        "retry_timeout_seconds = 60.0\nmax_concurrency = 4\n"
    )
    # when
    http = load(tmp_path, text).instances[0].http
    # then
    assert http == HTTPSettings(
        timeout_seconds=2.5,
        connect_timeout_seconds=1.0,
        mutation_timeout_seconds=12.0,
        retry_timeout_seconds=60.0,
        max_concurrency=4,
    )
    assert isinstance(http.connect_timeout_seconds, float)


def test_server_max_first(tmp_path: Path) -> None:
    settings = load(tmp_path, TEAM + "\n[server]\nmax_first = 250\n")
    assert settings.limits.max_first == 250


def test_server_table_may_come_first(tmp_path: Path) -> None:
    settings = load(tmp_path, "[server]\nmax_first = 7\n\n" + N8N)
    assert (settings.limits.max_first, settings.instances[0].name) == (7, "n8n-prod")


# -- the file itself -------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, ENV)
    assert str(path) in str(caught.value)
    assert only(caught.value.problems).startswith("cannot read the file: ")


def test_directory_is_not_readable_as_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, ENV)
    assert only(caught.value.problems).startswith("cannot read the file")


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = '[[instances]]\nname = "acme"\nkind = team\n'
    problem = only(problems(tmp_path, text))
    assert problem.startswith("TOML syntax error")
    assert "line 3" in problem


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[instances]]\nname = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, ENV)
    assert only(caught.value.problems) == "the file is not UTF-8 text"


# -- instances: presence and shape -----------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# nothing here\n", "instances = []\n"])
def test_no_instances(tmp_path: Path, text: str) -> None:
    assert only(problems(tmp_path, text)).startswith("no instances")


def test_instances_as_a_single_table_is_the_wrong_type(tmp_path: Path) -> None:
    text = TEAM.replace("[[instances]]", "[instances]")
    problem = only(problems(tmp_path, text))
    assert problem == "key 'instances': must be an array of tables ([[instances]]), not a table"


def test_instance_that_is_not_a_table(tmp_path: Path) -> None:
    found = problems(tmp_path, 'instances = [1, "x"]\n')
    assert found == (
        "instances[0]: must be a table ([[instances]]), not an integer",
        "instances[1]: must be a table ([[instances]]), not a string",
    )


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    found = problems(tmp_path, TEAM.replace("[[instances]]", "[[instance]]"))
    assert found[0].startswith("top level: unknown key 'instance' (did you mean 'instances'?)")
    assert "valid keys: instances, server, clients, limits, cache, audit" in found[0]
    assert found[1].startswith("no instances")


# -- names and kinds -------------------------------------------------------------------------


def test_unknown_kind_lists_the_valid_ones(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, N8N.replace('kind = "n8n"', 'kind = "zapier"')))
    assert problem == (
        "instance 'n8n-prod': key 'kind': unknown kind 'zapier'; valid kinds: 'n8n', 'team'"
    )


def test_missing_kind(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, N8N.replace('kind = "n8n"\n', "")))
    assert problem == "instance 'n8n-prod': key 'kind': missing"


def test_duplicate_name_names_both_positions(tmp_path: Path) -> None:
    text = TEAM + "\n" + N8N.replace('"n8n-prod"', '"acme"')
    problem = only(problems(tmp_path, text))
    assert problem == (
        "instance 'acme': key 'name': duplicate name, instances[1] uses the same name as "
        "instances[0]"
    )


@pytest.mark.parametrize("bad", ["acme prod", "acme:1", "acm\u00e9", "a/b", "x.y"])
def test_name_with_bad_characters_is_named_by_position(tmp_path: Path, bad: str) -> None:
    text = N8N + "\n" + TEAM.replace('"acme"', f'"{bad}"')
    problem = only(problems(tmp_path, text))
    assert problem == (
        f"instances[1]: key 'name': {bad!r} may hold only letters, digits, '-' and '_'"
    )


def test_empty_missing_and_mistyped_names(tmp_path: Path) -> None:
    text = (
        TEAM.replace('"acme"', '""')
        + "\n"
        + N8N.replace('name = "n8n-prod"\n', "")
        + "\n"
        + N8N.replace('"n8n-prod"', "42")
    )
    assert problems(tmp_path, text) == (
        "instances[0]: key 'name': must not be empty",
        "instances[1]: key 'name': missing",
        "instances[2]: key 'name': must be a string, not an integer",
    )


# -- required keys and credentials -----------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "line", "key", "kind"),
    [
        (TEAM, f'team_id = "{TEAM_ID}"\n', "team_id", "team"),
        (TEAM, 'token_env = "ACME_SDK_TOKEN"\n', "token_env", "team"),
        (N8N, 'api_key_env = "N8N_PROD_API_KEY"\n', "api_key_env", "n8n"),
    ],
)
def test_missing_kind_specific_key(
    tmp_path: Path, base: str, line: str, key: str, kind: str
) -> None:
    name = "acme" if kind == "team" else "n8n-prod"
    problem = only(problems(tmp_path, base.replace(line, "")))
    assert problem == f"instance {name!r}: key {key!r}: missing (required for kind {kind!r})"


def test_missing_base_url(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, TEAM.replace('base_url = "http://127.0.0.1:9101"\n', "")))
    assert problem == "instance 'acme': key 'base_url': missing"


def test_unset_environment_variable(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, TEAM, {"OTHER": "x"}))
    assert (
        problem
        == "instance 'acme': key 'token_env': environment variable ACME_SDK_TOKEN is not set"
    )


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_environment_variable(tmp_path: Path, value: str) -> None:
    problem = only(problems(tmp_path, N8N, {"N8N_PROD_API_KEY": value, "X": TEAM_SECRET}))
    assert problem == (
        "instance 'n8n-prod': key 'api_key_env': environment variable N8N_PROD_API_KEY is empty"
    )


def test_credential_pasted_instead_of_a_variable_name_is_not_echoed(tmp_path: Path) -> None:
    # given: the secret itself where the variable's name belongs
    pasted = "sdk_live-4f9a.b2c7/Zq=="
    text = TEAM.replace('"ACME_SDK_TOKEN"', f'"{pasted}"')
    # when
    problem = only(problems(tmp_path, text))
    # then
    assert problem.startswith("instance 'acme': key 'token_env': must be the NAME of")
    assert pasted not in problem


def test_one_shared_variable_serves_several_instances(tmp_path: Path) -> None:
    text = N8N + "\n" + N8N.replace('"n8n-prod"', '"n8n-staging"')
    settings = load(tmp_path, text)
    assert [i.credential for i in settings.instances] == [N8N_SECRET, N8N_SECRET]


# -- URLs and ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://127.0.0.1:9101", "must start with http:// or https://"),
        ("127.0.0.1:9101", "must start with http:// or https://"),
        ("//127.0.0.1:9101", "must start with http:// or https://"),
        ("http://", "has no host"),
        ("http://:9101/x", "has no host"),
        ("http://127.0.0.1:9101/?team=1", "must not have a query ('?...')"),
        ("http://127.0.0.1:9101/#top", "must not have a fragment ('#...')"),
        ("http://127.0.0.1:99999", "is not a valid URL (check the brackets and the port)"),
        ("http://[::1:9101", "is not a valid URL (check the brackets and the port)"),
        ("http://127.0.0.1:0", "has port 0"),
        ("http://host name:9101", "must be a non-empty URL without spaces"),
        ("", "must be a non-empty URL without spaces"),
    ],
)
def test_bad_base_url(tmp_path: Path, url: str, complaint: str) -> None:
    problem = only(problems(tmp_path, TEAM.replace("http://127.0.0.1:9101", url)))
    assert problem == f"instance 'acme': key 'base_url': {complaint}"


def test_url_with_credentials_is_refused_without_echoing_them(tmp_path: Path) -> None:
    text = TEAM.replace("http://127.0.0.1:9101", "https://bob:hunter2pass@team.example.com")
    problem = only(problems(tmp_path, text))
    assert problem.startswith("instance 'acme': key 'base_url': must not contain a user")
    assert "hunter2pass" not in problem
    assert "bob" not in problem


def test_n8n_base_url_must_not_include_the_api_prefix(tmp_path: Path) -> None:
    text = N8N.replace("http://127.0.0.1:9102", "http://127.0.0.1:9102/api/v1/")
    problem = only(problems(tmp_path, text))
    assert (
        problem == "instance 'n8n-prod': key 'base_url': must not end in /api/v1 (execgate adds it)"
    )


@pytest.mark.parametrize(
    "team_id",
    ["acme", "0b6f3a8e2c1d4e5f9a7b1c2d3e4f5a6b", "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6", ""],
)
def test_team_id_must_be_a_uuid(tmp_path: Path, team_id: str) -> None:
    problem = only(problems(tmp_path, TEAM.replace(TEAM_ID, team_id)))
    assert problem.startswith("instance 'acme': key 'team_id': must be a UUID")


# -- types and ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "complaint"),
    [
        ('timeout_seconds = "10"', "timeout_seconds", "must be a number of seconds, not a string"),
        ("timeout_seconds = true", "timeout_seconds", "must be a number of seconds, not a boolean"),
        (
            "connect_timeout_seconds = 0",
            "connect_timeout_seconds",
            "must be a positive, finite number of seconds",
        ),
        (
            "mutation_timeout_seconds = -1.5",
            "mutation_timeout_seconds",
            "must be a positive, finite number of seconds",
        ),
        (
            "retry_timeout_seconds = inf",
            "retry_timeout_seconds",
            "must be a positive, finite number of seconds",
        ),
        ("max_concurrency = 2.0", "max_concurrency", "must be an integer, not a float"),
        ("max_concurrency = 0", "max_concurrency", "must be at least 1"),
        ("base_url = 9101", "base_url", "must be a string, not an integer"),
        ("team_id = [1, 2]", "team_id", "must be a string, not an array"),
        ("token_env = { name = 'X' }", "token_env", "must be a string, not a table"),
        ("kind = 1979-05-27", "kind", "must be a string, not a date or time"),
    ],
)
def test_wrong_types_and_ranges(tmp_path: Path, line: str, key: str, complaint: str) -> None:
    # given: the team instance with one key replaced (or added)
    kept = [ln for ln in TEAM.splitlines() if not ln.startswith(f"{key} =")]
    text = "\n".join([*kept, line]) + "\n"
    # when
    problem = only(problems(tmp_path, text))
    # then
    assert problem == f"instance 'acme': key {key!r}: {complaint}"


@pytest.mark.parametrize(
    ("server", "problem"),
    [
        ('max_first = "100"', "[server]: key 'max_first': must be an integer, not a string"),
        ("max_first = 0", "[server]: key 'max_first': must be at least 1"),
        ("max_frist = 10", "[server]: unknown key 'max_frist' (did you mean 'max_first'?)"),
        ('federation = "yes"', "[server]: key 'federation': must be true or false, not a string"),
    ],
)
def test_bad_server_table(tmp_path: Path, server: str, problem: str) -> None:
    found = only(problems(tmp_path, TEAM + f"\n[server]\n{server}\n"))
    assert found.startswith(problem)


def test_server_that_is_not_a_table(tmp_path: Path) -> None:
    found = only(problems(tmp_path, "server = 5\n" + TEAM))
    assert found == "key 'server': must be a table ([server]), not an integer"


# -- unknown keys ----------------------------------------------------------------------------


def test_typo_in_an_instance_key_names_it_and_the_valid_ones(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, TEAM + "timeout_secs = 5\n"))
    assert problem.startswith(
        "instance 'acme': key 'timeout_secs': unknown key 'timeout_secs' "
        "(did you mean 'timeout_seconds'?); valid keys: "
    )
    valid = problem.rsplit("valid keys: ", 1)[1].split(", ")
    assert "team_id" in valid and "token_env" in valid and "max_concurrency" in valid
    assert "api_key_env" not in valid


def test_key_of_the_other_kind(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, N8N + f'team_id = "{TEAM_ID}"\n'))
    assert problem.startswith(
        "instance 'n8n-prod': key 'team_id': belongs to kind 'team', not 'n8n'; valid keys: "
    )
    assert "api_key_env" in problem


def test_secret_written_under_an_unknown_key_is_not_echoed(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, TEAM + 'token = "sdk_written-in-the-file"\n'))
    assert problem.startswith("instance 'acme': key 'token': unknown key 'token'")
    assert "sdk_written-in-the-file" not in problem


# -- everything at once ----------------------------------------------------------------------


def test_every_problem_is_reported_together_one_per_line(tmp_path: Path) -> None:
    # given: three instances, each broken in its own ways, and a broken server table
    text = (
        TEAM.replace('"team"', '"teams"')
        + "\n"
        + N8N.replace("http://127.0.0.1:9102", "ftp://x")
        + "tiemout_seconds = 3\n"
        + "\n[[instances]]\nkind = 'n8n'\nbase_url = 'http://h'\napi_key_env = 'MISSING_KEY'\n"
        + "\n[server]\nmax_first = -1\n"
    )
    path = write(tmp_path, text)
    # when
    with pytest.raises(ConfigError) as caught:
        load_settings(path, ENV)
    # then
    error = caught.value
    assert error.path == str(path)
    assert [re.sub(r"[;(].*", "", p).strip() for p in error.problems] == [
        "[server]: key 'max_first': must be at least 1",
        "instance 'acme': key 'kind': unknown kind 'teams'",
        "instance 'n8n-prod': key 'tiemout_seconds': unknown key 'tiemout_seconds'",
        "instance 'n8n-prod': key 'base_url': must start with http:// or https://",
        "instances[2]: key 'name': missing",
        "instances[2]: key 'api_key_env': environment variable MISSING_KEY is not set",
    ]
    lines = str(error).splitlines()
    assert lines[0] == f"invalid configuration in {path} (6 problems):"
    assert len(lines) == 7


def test_one_problem_is_singular(tmp_path: Path) -> None:
    path = write(tmp_path, TEAM)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(caught.value).splitlines()[0] == f"invalid configuration in {path} (1 problem):"


# -- the docker example ----------------------------------------------------------------------


def test_docker_example_config_loads(tmp_path: Path) -> None:
    # given: the file compose.yaml mounts, and the variables compose.yaml sets
    example = REPO / "docker" / "instances.example.toml"
    # when
    settings = load_settings(example, {**ENV, "EXECGATE_CURSOR_SECRET": "s" * 40})
    # then
    assert [(i.name, i.kind, i.base_url) for i in settings.instances] == [
        ("acme", BackendKind.TEAM, "http://team-sim:9101"),
        ("n8n-prod", BackendKind.N8N, "http://n8n-sim:9102"),
    ]
    assert settings.instances[0].team_id == TEAM_ID
    assert settings.limits.max_first == 100
    # the container binds 0.0.0.0, so it only starts with a client; the documented key is it
    import hashlib

    documented = hashlib.sha256(b"egk_docker-demo-key-change-me").hexdigest()
    assert [c.key_sha256 for c in settings.clients] == [documented]
    # and the replicas share Redis and one cursor secret, and are scraped on their own port
    assert settings.shared.redis_url == "redis://redis:6379/0"
    assert settings.server.cursor_secret == "s" * 40
    assert (settings.server.metrics, settings.server.metrics_listen) == (True, "0.0.0.0:9464")


def test_compose_sets_the_variables_and_path_the_example_and_image_use() -> None:
    # given
    compose = (REPO / "docker" / "compose.yaml").read_text(encoding="utf-8")
    dockerfile = (REPO / "docker" / "Dockerfile").read_text(encoding="utf-8")
    example = (REPO / "docker" / "instances.example.toml").read_text(encoding="utf-8")
    # then: every credential variable the example names is set on the gateway service
    variables = re.findall(r'^(?:token_env|api_key_env) = "([A-Z0-9_]+)"', example, re.M)
    assert variables == ["ACME_SDK_TOKEN", "N8N_PROD_API_KEY"]
    gateway = compose.split("\nx-gateway: &gateway\n", 1)[1].split("\nservices:\n", 1)[0]
    for variable in [*variables, "EXECGATE_CURSOR_SECRET"]:
        assert re.search(rf"^    {variable}: \$\{{", gateway, re.M), variable
    # two replicas of it, Redis, and a balancer in front
    services = compose.split("\nservices:\n", 1)[1]
    for name in ("gateway-1", "gateway-2"):
        assert f"\n  {name}:\n    <<: *gateway\n" in services
    assert "\n  redis:\n    image: redis:" in services
    assert "\n  balancer:\n    image: nginx:" in services
    nginx = (REPO / "docker" / "nginx.conf").read_text(encoding="utf-8")
    assert "server gateway-1:8000" in nginx and "server gateway-2:8000" in nginx
    # and the example is mounted where the image's default command reads its config
    assert '"--config", "/etc/execgate/instances.toml"' in dockerfile
    assert "./instances.example.toml:/etc/execgate/instances.toml:ro" in gateway
    # and the simulators expect the credentials the gateway is given
    assert "--token\n      - ${TEAM_TOKEN:-demo-team-token}" in compose
    assert "--api-key\n      - ${N8N_API_KEY:-demo-n8n-key}" in compose
    assert "ACME_SDK_TOKEN: ${TEAM_TOKEN:-demo-team-token}" in gateway
    assert "N8N_PROD_API_KEY: ${N8N_API_KEY:-demo-n8n-key}" in gateway


# -- clients, limits, server switches, audit ---------------------------------------------------

KEY_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OTHER_HASH = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

# The security tables exactly as the documentation shows them.
SECURITY = """\
[[clients]]
name = "dashboard"
key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # sha256 hex
instances = ["acme", "n8n-prod"]   # or ["*"]
actions = ["read"]                 # any of read, cancel, retry, delete
rate_per_second = 20               # optional token bucket for this client: refill rate
burst = 40                         # and bucket size

[limits]
max_backend_calls = 250            # per operation, estimated before any backend call
max_depth = 12
max_aliases = 30
max_first = 100

[audit]
path = "execgate-audit.jsonl"      # omit to write audit lines to stderr
"""


def client_table(**values: object) -> str:
    """One [[clients]] table: a valid read-only client, with ``values`` replacing keys."""
    table: dict[str, object] = {
        "name": "dash",
        "key_sha256": KEY_HASH,
        "instances": ["acme"],
        "actions": ["read"],
    }
    table.update(values)
    lines = ["[[clients]]"]
    for key, value in table.items():
        if value is None:
            continue
        lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def test_documented_security_tables_load_exactly_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the documented instances and security tables, run from tmp_path
    monkeypatch.chdir(tmp_path)
    # when
    settings = load(tmp_path, DOCUMENTED + "\n" + SECURITY)
    # then
    assert settings.clients == (
        ClientSettings(
            name="dashboard",
            key_sha256=KEY_HASH,
            instances=("acme", "n8n-prod"),
            actions=frozenset({Action.READ}),
            rate_per_second=20.0,
            burst=40,
        ),
    )
    assert settings.limits == LimitSettings(max_backend_calls=250, max_depth=12, max_aliases=30)
    assert settings.limits.max_first == 100
    assert settings.audit.path == "execgate-audit.jsonl"
    assert KEY_HASH not in repr(settings)


def test_security_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, DOCUMENTED)
    assert settings.clients == ()
    assert settings.limits == LimitSettings(
        max_backend_calls=250, max_depth=12, max_aliases=30, max_tokens=2000
    )
    assert (settings.server.introspection, settings.server.graphiql) == (True, True)
    assert settings.server.max_body_bytes == 1024 * 1024
    assert settings.audit.path is None


def test_every_instance_and_every_action(tmp_path: Path) -> None:
    text = TEAM + client_table(
        instances=["*"], actions=["read", "cancel", "retry", "delete", "export"]
    )
    [client] = load(tmp_path, text).clients
    assert client.instances is None
    assert client.actions == frozenset(Action)
    assert (client.rate_per_second, client.burst) == (None, None)


def test_hash_is_stored_lowercase(tmp_path: Path) -> None:
    [client] = load(tmp_path, TEAM + client_table(key_sha256=KEY_HASH.upper())).clients
    assert client.key_sha256 == KEY_HASH


def test_server_switches(tmp_path: Path) -> None:
    text = (
        TEAM + "\n[server]\nintrospection = false\ngraphiql = false\nmax_body_bytes = 4096\n"
        "federation = true\n"
    )
    settings = load(tmp_path, text)
    assert (
        settings.server.introspection,
        settings.server.graphiql,
        settings.server.max_body_bytes,
        settings.server.federation,
    ) == (
        False,
        False,
        4096,
        True,
    )
    assert load(tmp_path, TEAM).server.federation is False


def test_max_first_in_either_table(tmp_path: Path) -> None:
    assert load(tmp_path, TEAM + "\n[limits]\nmax_first = 30\n").limits.max_first == 30
    assert load(tmp_path, TEAM + "\n[server]\nmax_first = 40\n").limits.max_first == 40
    both = TEAM + "\n[server]\nmax_first = 50\n\n[limits]\nmax_first = 50\n"
    assert load(tmp_path, both).limits.max_first == 50
    conflict = TEAM + "\n[server]\nmax_first = 50\n\n[limits]\nmax_first = 60\n"
    assert only(problems(tmp_path, conflict)) == (
        "[server]: key 'max_first': conflicts with [limits] max_first; keep only [limits] max_first"
    )


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"nmae": "x"}, "client 'dash': key 'nmae': unknown key 'nmae' (did you mean 'name'?)"),
        ({"name": None}, "clients[0]: key 'name': missing"),
        ({"name": 7}, "clients[0]: key 'name': must be a string, not an integer"),
        ({"name": "a b"}, "clients[0]: key 'name': 'a b' may hold only letters, digits"),
        ({"key_sha256": None}, "client 'dash': key 'key_sha256': missing"),
        ({"key_sha256": 5}, "client 'dash': key 'key_sha256': must be a string, not an integer"),
        ({"key_sha256": "abc"}, "client 'dash': key 'key_sha256': must be the sha256 of the key"),
        (
            {"key_sha256": "g" * 64},
            "client 'dash': key 'key_sha256': must be the sha256 of the key",
        ),
        ({"instances": None}, "client 'dash': key 'instances': missing"),
        (
            {"instances": "acme"},
            "client 'dash': key 'instances': must be an array of strings, not a string",
        ),
        (
            {"instances": [1]},
            "client 'dash': key 'instances': must be an array of strings, "
            "not one holding an integer",
        ),
        ({"instances": []}, "client 'dash': key 'instances': must name at least one instance"),
        (
            {"instances": ["ghost"]},
            "client 'dash': key 'instances': instance 'ghost' is not configured; configured: acme",
        ),
        (
            {"instances": ["*", "acme"]},
            "client 'dash': key 'instances': \"*\" (every instance) must be the only entry",
        ),
        (
            {"instances": ["acme", "acme"]},
            "client 'dash': key 'instances': names an instance more than once",
        ),
        ({"actions": None}, "client 'dash': key 'actions': missing"),
        (
            {"actions": []},
            "client 'dash': key 'actions': must name at least one action: "
            "read, cancel, retry, delete, export",
        ),
        (
            {"actions": ["read", "write"]},
            "client 'dash': key 'actions': unknown action 'write'; "
            "valid actions: read, cancel, retry, delete, export",
        ),
        ({"actions": ["cancel"]}, "client 'dash': key 'actions': must include 'read'"),
        (
            {"rate_per_second": "20"},
            "client 'dash': key 'rate_per_second': must be a number, not a string",
        ),
        (
            {"rate_per_second": True},
            "client 'dash': key 'rate_per_second': must be a number, not a boolean",
        ),
        (
            {"rate_per_second": 0},
            "client 'dash': key 'rate_per_second': must be a positive, finite number",
        ),
        ({"rate_per_second": "inf"}, "client 'dash': key 'rate_per_second': must be a number"),
        (
            {"rate_per_second": 1, "burst": 2.5},
            "client 'dash': key 'burst': must be an integer, not a float",
        ),
        ({"rate_per_second": 1, "burst": 0}, "client 'dash': key 'burst': must be at least 1"),
        ({"burst": 5}, "client 'dash': key 'burst': needs rate_per_second"),
    ],
)
def test_bad_client(tmp_path: Path, values: dict[str, object], problem: str) -> None:
    found = only(problems(tmp_path, TEAM + client_table(**values)))
    assert found.startswith(problem)


def test_a_pasted_key_is_never_echoed(tmp_path: Path) -> None:
    # given: the key itself where its hash belongs, and under a key of its own
    raw = "egk_Th1s-is-the-real-client-key-do-not-log"
    text = (
        TEAM
        + client_table(key_sha256=raw)
        + client_table(name="other", key_sha256=OTHER_HASH, key=raw)
    )
    # when
    found = problems(tmp_path, text)
    # then: both are reported, neither value is shown, and the way out is named
    assert len(found) == 2
    assert found[0].startswith("client 'dash': key 'key_sha256': must be the sha256")
    assert found[1].startswith(
        "client 'other': key 'key': unknown key 'key'; write the key's sha256"
    )
    for problem in found:
        assert raw not in problem
        assert "execgate keys new NAME" in problem


def test_duplicate_client_names_and_keys(tmp_path: Path) -> None:
    text = (
        TEAM
        + client_table()
        + client_table(key_sha256=OTHER_HASH)
        + client_table(name="copy", key_sha256=KEY_HASH.upper())
    )
    assert problems(tmp_path, text) == (
        "client 'dash': key 'name': duplicate name, clients[1] uses the same name as clients[0]",
        "client 'copy': key 'key_sha256': the same key as client 'dash'; every client needs its "
        "own key (run 'execgate keys new NAME' to make a key and its [[clients]] table)",
    )


def test_clients_that_are_not_tables(tmp_path: Path) -> None:
    assert only(
        problems(tmp_path, TEAM.replace("[[instances]]", 'clients = "x"\n[[instances]]'))
    ) == ("key 'clients': must be an array of tables ([[clients]]), not a string")
    assert only(problems(tmp_path, "clients = [3]\n" + TEAM)) == (
        "clients[0]: must be a table ([[clients]]), not an integer"
    )


def test_client_naming_an_instance_with_other_problems_is_not_blamed(tmp_path: Path) -> None:
    # given: acme is configured but broken; the client names it
    text = TEAM.replace("http://127.0.0.1:9101", "ftp://x") + client_table()
    # then: only the instance's own problem is reported
    assert only(problems(tmp_path, text)).startswith("instance 'acme': key 'base_url'")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            "[limits]\nmax_depht = 3\n",
            "[limits]: unknown key 'max_depht' (did you mean 'max_depth'?)",
        ),
        ("[limits]\nmax_depth = 0\n", "[limits]: key 'max_depth': must be at least 1"),
        (
            "[limits]\nmax_aliases = '3'\n",
            "[limits]: key 'max_aliases': must be an integer, not a string",
        ),
        (
            "[limits]\nmax_backend_calls = true\n",
            "[limits]: key 'max_backend_calls': must be an integer, not a boolean",
        ),
        ("limits = 3\n", "key 'limits': must be a table ([limits]), not an integer"),
        (
            "[server]\nintrospection = 'no'\n",
            "[server]: key 'introspection': must be true or false, not a string",
        ),
        (
            "[server]\ngraphiql = 1\n",
            "[server]: key 'graphiql': must be true or false, not an integer",
        ),
        (
            "[server]\nmax_body_bytes = 100\n",
            "[server]: key 'max_body_bytes': must be at least 1024",
        ),
        ("[audit]\npath = 3\n", "[audit]: key 'path': must be a string, not an integer"),
        ("[audit]\npath = ' '\n", "[audit]: key 'path': must not be empty"),
        ("[audit]\nfile = 'a.jsonl'\n", "[audit]: unknown key 'file'"),
        ("audit = 'a.jsonl'\n", "key 'audit': must be a table ([audit]), not a string"),
    ],
)
def test_bad_limits_server_and_audit_tables(tmp_path: Path, table: str, problem: str) -> None:
    text = table + TEAM if not table.startswith("[") else TEAM + "\n" + table
    assert only(problems(tmp_path, text)).startswith(problem)


def test_audit_path_must_be_a_file_in_an_existing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "audit.jsonl"
    assert only(problems(tmp_path, TEAM + f"\n[audit]\npath = '{missing}'\n")) == (
        f"[audit]: key 'path': the directory {missing.parent} does not exist"
    )
    assert only(problems(tmp_path, TEAM + f"\n[audit]\npath = '{tmp_path}'\n")) == (
        f"[audit]: key 'path': {tmp_path} is a directory, not a file"
    )


def test_audit_path_is_read_without_credentials(tmp_path: Path) -> None:
    # given: a config whose credential variables are not set here
    path = write(tmp_path, TEAM + f"\n[audit]\npath = '{tmp_path / 'a.jsonl'}'\n")
    # then: the audit path alone can still be read (for 'execgate audit tail')
    assert read_audit_path(path) == str(tmp_path / "a.jsonl")
    assert read_audit_path(write(tmp_path, TEAM)) is None
    with pytest.raises(ConfigError) as caught:
        read_audit_path(write(tmp_path, TEAM + "\n[audit]\npath = 3\n"))
    assert caught.value.problems == ("[audit]: key 'path': must be a string, not an integer",)


def test_the_readme_configuration_block_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the TOML block of the README's Configuration section, run from tmp_path
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    # when
    settings = load(tmp_path, block)
    # then: every documented key is understood, with the documented values
    assert [i.name for i in settings.instances] == ["acme", "n8n-prod"]
    [client] = settings.clients
    assert (client.name, client.instances, client.actions) == (
        "dashboard",
        ("acme", "n8n-prod"),
        frozenset({Action.READ}),
    )
    assert (client.rate_per_second, client.burst) == (20.0, 40)
    assert settings.limits == LimitSettings()
    assert settings.limits.max_first == 100
    assert (
        settings.server.introspection,
        settings.server.graphiql,
        settings.server.max_body_bytes,
        settings.server.federation,
    ) == (
        True,
        True,
        1024 * 1024,
        False,
    )
    assert settings.audit.path == "execgate-audit.jsonl"
    assert settings.mcp == MCPSettings()
    # and the operations keys it shows are the defaults
    assert settings.server == ServerSettings()
    assert settings.cache == CacheSettings()
    assert settings.shared == SharedSettings()


def test_network_keys_of_an_instance(tmp_path: Path) -> None:
    # given: files for a private CA and a client certificate, and a proxy
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "gw.pem", "gw.key"))
    for path in (ca, cert, key):
        path.write_text("PEM\n")
    text = N8N + (
        f'ca_file = "{ca}"\nclient_cert_file = "{cert}"\nclient_key_file = "{key}"\n'
        'proxy = "http://proxy.internal:3128"\nverify_tls = true\nread_retries = 0\n'
        "max_response_mb = 8\n"
    )
    # when
    http = load(tmp_path, text).instances[0].http
    # then
    assert http == HTTPSettings(
        ca_file=str(ca),
        client_cert_file=str(cert),
        client_key_file=str(key),
        proxy="http://proxy.internal:3128",
        read_retries=0,
        max_response_mb=8.0,
    )
    assert http.max_response_bytes == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("line", "key", "complaint"),
    [
        (
            'ca_file = "/nowhere/ca.pem"',
            "ca_file",
            "/nowhere/ca.pem is not a file that can be read",
        ),
        ("verify_tls = 1", "verify_tls", "must be true or false, not an integer"),
        ("read_retries = -1", "read_retries", "must be at least 0"),
        (
            "max_response_mb = 0",
            "max_response_mb",
            "must be a positive, finite number of megabytes",
        ),
        ('proxy = "socks5://p:1"', "proxy", "must be an http:// or https:// proxy URL"),
    ],
)
def test_bad_network_keys(tmp_path: Path, line: str, key: str, complaint: str) -> None:
    problem = only(problems(tmp_path, N8N + line + "\n"))
    assert problem.startswith(f"instance 'n8n-prod': key {key!r}: {complaint}")


def test_a_client_certificate_needs_its_key_and_a_proxy_password_is_not_echoed(
    tmp_path: Path,
) -> None:
    cert = tmp_path / "gw.pem"
    cert.write_text("PEM\n")
    text = N8N + f'client_cert_file = "{cert}"\nproxy = "ftp://user:hunter2pass@p:1"\n'
    found = problems(tmp_path, text)
    assert any("client_key_file" in p and "needs both" in p for p in found)
    assert all("hunter2pass" not in p for p in found)


def test_cache_and_server_tables(tmp_path: Path) -> None:
    text = TEAM + (
        "\n[cache]\nenabled = false\nmax_mb = 16\nmax_entries = 500\nttl_seconds = 60\n"
        "operations = 64\n\n[server]\nfast_executor = false\n"
    )
    settings = load(tmp_path, text)
    assert settings.cache == CacheSettings(
        enabled=False, max_mb=16.0, max_entries=500, ttl_seconds=60.0, operations=64
    )
    assert settings.cache.max_bytes == 16 * 1024 * 1024
    assert settings.server == ServerSettings(fast_executor=False)
    assert only(problems(tmp_path, TEAM + "\n[cache]\nmax_entrys = 5\n")).startswith(
        "[cache]: unknown key 'max_entrys' (did you mean 'max_entries'?)"
    )


def test_the_audit_table_is_read_alone_without_credentials(tmp_path: Path) -> None:
    path = write(tmp_path, TEAM + f'\n[audit]\npath = "{tmp_path / "a.jsonl"}"\n')
    assert read_audit_path(path) == str(tmp_path / "a.jsonl")
    assert AuditSettings().path is None


def test_the_cursor_secret_comes_from_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    secret = "c" * 40
    text = TEAM + '\n[server]\ncursor_secret_env = "EXECGATE_CURSOR_SECRET"\n'
    settings = load(tmp_path, text, {**ENV, "EXECGATE_CURSOR_SECRET": secret})
    assert settings.server.cursor_secret == secret
    assert secret not in repr(settings)
    assert load(tmp_path, TEAM).server.cursor_secret is None


@pytest.mark.parametrize(
    ("line", "environ", "complaint"),
    [
        ('cursor_secret_env = "EXECGATE_CURSOR_SECRET"', {}, "is not set"),
        (
            'cursor_secret_env = "EXECGATE_CURSOR_SECRET"',
            {"EXECGATE_CURSOR_SECRET": "sh0rt-s3cret"},
            "is too short",
        ),
        (
            'cursor_secret_env = "sh0rt-s3cret pasted"',
            {},
            "must be the NAME of an environment variable",
        ),
    ],
)
def test_bad_cursor_secrets(
    tmp_path: Path, line: str, environ: dict[str, str], complaint: str
) -> None:
    found = only(problems(tmp_path, TEAM + f"\n[server]\n{line}\n", {**ENV, **environ}))
    assert found.startswith("[server]: key 'cursor_secret_env': ")
    assert complaint in found and "sh0rt-s3cret" not in found


# -- [mcp] -------------------------------------------------------------------------------------


def test_the_mcp_table_defaults_and_values(tmp_path: Path) -> None:
    # given: no [mcp], then one that sets every key
    plain = load(tmp_path, DOCUMENTED)
    text = (
        DOCUMENTED + '\n[mcp]\nenabled = false\ndefault_instance = "n8n-prod"\nkey_env = "GW_KEY"\n'
    )
    # when
    set_ = load(tmp_path, text)
    # then
    assert plain.mcp == MCPSettings(enabled=True, default_instance=None, key_env="EXECGATE_MCP_KEY")
    assert set_.mcp == MCPSettings(enabled=False, default_instance="n8n-prod", key_env="GW_KEY")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            'default_instance = "nowhere"',
            "[mcp]: key 'default_instance': instance 'nowhere' is not configured; "
            "configured: acme, n8n-prod",
        ),
        ("enabled = 1", "[mcp]: key 'enabled': must be true or false, not an integer"),
        (
            'key_env = "egk_pasted-the-key-itself"',
            "[mcp]: key 'key_env': must be the NAME of an environment variable, not the key itself",
        ),
        (
            'path = "/mcp"',
            "[mcp]: unknown key 'path'; valid keys: enabled, default_instance, key_env",
        ),
    ],
)
def test_bad_mcp_tables(tmp_path: Path, table: str, problem: str) -> None:
    found = only(problems(tmp_path, DOCUMENTED + f"\n[mcp]\n{table}\n"))
    assert found == problem
    assert "egk_pasted" not in found


# -- live subscriptions ----------------------------------------------------------------------


def test_live_settings_have_their_defaults_and_can_be_set(tmp_path: Path) -> None:
    default = load(tmp_path, TEAM)
    assert default.live.poll_interval_seconds == 2.0
    assert default.limits.max_subscriptions_per_client == 20
    text = (
        TEAM
        + "\n[live]\npoll_interval_seconds = 0.5\n\n[limits]\nmax_subscriptions_per_client = 3\n"
    )
    chosen = load(tmp_path, text)
    assert chosen.live.poll_interval_seconds == 0.5
    assert chosen.limits.max_subscriptions_per_client == 3


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            "[live]\npoll_interval_seconds = 0",
            "[live]: key 'poll_interval_seconds': must be a positive, finite number of seconds",
        ),
        (
            "[live]\npoll_interval_seconds = 'fast'",
            "[live]: key 'poll_interval_seconds': must be a number of seconds, not a string",
        ),
        ("[live]\ninterval = 2", "[live]: unknown key 'interval'"),
        (
            "[limits]\nmax_subscriptions_per_client = 0",
            "[limits]: key 'max_subscriptions_per_client': must be at least 1",
        ),
    ],
)
def test_bad_live_settings_are_named(tmp_path: Path, table: str, problem: str) -> None:
    assert only(problems(tmp_path, TEAM + "\n" + table + "\n")).startswith(problem)
