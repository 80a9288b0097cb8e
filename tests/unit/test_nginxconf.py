"""obsgate.stackfiles.nginx, the one reader of nginx.conf: locations as nginx picks them, the CORS allow-list
and the push rate limit.

Configs are small snippets shaped like stack/nginx/nginx.conf, written to tmp_path; one test
reads the real file through the real compose file's nginx mount.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from obsgate.checks.static import nginx as nginx_policy
from obsgate.core.errors import InputError
from obsgate.stackfiles.compose import ServiceSpec, load_compose
from obsgate.stackfiles.nginx import DEFAULT_CONFIG, CorsAllowList, NginxConf, RateLimit, select_location

ROOT = Path(__file__).resolve().parents[2]
REAL_COMPOSE = ROOT / "stack" / "docker-compose.yml"
REAL_NGINX_CONF = ROOT / "stack" / "nginx" / "nginx.conf"
PUSH = "= /loki/api/v1/push"

ALLOW_LIST_MAP = """\
    map $http_origin $cors_origin {
        default                              "";
        "https://pos.retail.example"         $http_origin;
        "https://backoffice.retail.example"  $http_origin;
    }
"""

OTHER_MAPS = """\
    map $cors_origin $cors_allow_credentials {
        ""      "";
        default "true";
    }
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ""      close;
    }
"""

ZONES = """\
    limit_req_zone $binary_remote_addr zone=loki_push:10m rate=50r/s;
    limit_req_zone $binary_remote_addr zone=api_read:10m rate=20r/s;
    limit_req_status 429;
"""

PUSH_LOCATION = """\
        location = /loki/api/v1/push {
            add_header Access-Control-Allow-Origin $cors_origin always;
            if ($request_method = OPTIONS) {
                return 204;
            }
            limit_req zone=loki_push burst=100 nodelay;
            auth_basic "loki push";
            set $loki_upstream http://loki:3100;
            proxy_pass $loki_upstream;
        }
"""


def write_conf(directory: Path, http_body: str, name: str = "nginx.conf") -> Path:
    """An nginx.conf with the real file's top level (events, http) around ``http_body``."""
    path = directory / name
    path.write_text(
        "worker_processes auto;\nerror_log stderr warn;\n\nevents {\n    worker_connections 4096;\n}\n\n"
        "http {\n    server_tokens off;\n" + textwrap.dedent(http_body) + "}\n",
        encoding="utf-8",
    )
    return path


def conf(directory: Path, http_body: str) -> NginxConf:
    return NginxConf.load(write_conf(directory, http_body))


def server(*locations: str) -> str:
    """An HTTPS server block holding ``locations`` (each a complete location block)."""
    return "    server {\n        listen 443 ssl http2 default_server;\n        server_name _;\n" \
        + "".join(locations) + "    }\n"


def allow_list(directory: Path, map_block: str) -> CorsAllowList:
    return conf(directory, map_block).cors_allow_list()


def push_limit(directory: Path, zones: str, limit_req: str) -> RateLimit | None:
    location = f"        location = /loki/api/v1/push {{\n            {limit_req}\n            return 204;\n        }}\n"
    return conf(directory, zones + server(location)).rate_limit(PUSH)


def nginx_service(directory: Path, volumes: str) -> ServiceSpec:
    compose = directory / "docker-compose.yml"
    compose.write_text(
        "services:\n  nginx:\n    image: nginx:1.25.3-alpine\n    volumes:\n"
        + textwrap.indent(textwrap.dedent(volumes), "      "),
        encoding="utf-8",
    )
    return load_compose(compose, {}).services["nginx"]


# --- loading ---------------------------------------------------------------------------------


def test_load_keeps_the_top_level_directives_in_file_order(tmp_path: Path) -> None:
    loaded = conf(tmp_path, ALLOW_LIST_MAP)
    assert [d["directive"] for d in loaded.parsed] == ["worker_processes", "error_log", "events", "http"]


def test_load_records_the_file_it_read(tmp_path: Path) -> None:
    path = write_conf(tmp_path, ALLOW_LIST_MAP)
    assert NginxConf.load(path).path == path


def test_load_of_invalid_syntax_names_the_file_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "nginx.conf"
    path.write_text("events {}\nhttp {\n    server_tokens off;\n    map $http_origin $cors_origin {\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        NginxConf.load(path)
    assert info.value.file == str(path)
    assert info.value.problem.startswith("cannot parse: ")
    assert info.value.line == 4
    assert info.value.fix == "fix the syntax (nginx -t shows the same)"


def test_load_of_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.conf"
    with pytest.raises(InputError) as info:
        NginxConf.load(path)
    assert info.value.file == str(path)
    assert "No such file" in info.value.problem


def test_of_service_reads_the_file_bind_mounted_at_etc_nginx_nginx_conf(tmp_path: Path) -> None:
    (tmp_path / "nginx").mkdir()
    host = write_conf(tmp_path / "nginx", ALLOW_LIST_MAP)
    spec = nginx_service(tmp_path, "- ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n")
    loaded = NginxConf.of_service(spec)
    assert loaded.path == host.resolve()
    assert loaded.cors_allow_list().exact == ("https://pos.retail.example", "https://backoffice.retail.example")


def test_of_service_without_a_mounted_nginx_conf_names_the_service_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    spec = nginx_service(tmp_path, "- ./secrets:/etc/nginx/secrets:ro\n")
    with pytest.raises(InputError) as info:
        NginxConf.of_service(spec)
    assert info.value.file == "nginx"
    assert DEFAULT_CONFIG in info.value.problem
    assert DEFAULT_CONFIG in info.value.fix


def test_walk_yields_every_directive_depth_first(tmp_path: Path) -> None:
    path = tmp_path / "nginx.conf"
    path.write_text("events { worker_connections 1; }\nhttp { server { listen 80; location / { return 404; } } }\n",
                    encoding="utf-8")
    names = [d["directive"] for d in NginxConf.load(path).walk()]
    assert names == ["events", "worker_connections", "http", "server", "listen", "location", "return"]


def test_walk_of_a_given_block_stays_inside_it(tmp_path: Path) -> None:
    path = tmp_path / "nginx.conf"
    path.write_text("events { worker_connections 1; }\nhttp { server { listen 80; } }\n", encoding="utf-8")
    loaded = NginxConf.load(path)
    http = loaded.parsed[1]["block"]
    assert [d["directive"] for d in loaded.walk(http)] == ["server", "listen"]


# --- CORS allow-list -------------------------------------------------------------------------


def test_allow_list_lists_exact_origins_unquoted_in_file_order(tmp_path: Path) -> None:
    assert allow_list(tmp_path, ALLOW_LIST_MAP).exact == (
        "https://pos.retail.example",
        "https://backoffice.retail.example",
    )


def test_allow_list_of_exact_strings_has_no_patterns(tmp_path: Path) -> None:
    assert allow_list(tmp_path, ALLOW_LIST_MAP).patterns == ()


def test_allow_list_default_is_the_empty_value_the_map_gives_unlisted_origins(tmp_path: Path) -> None:
    assert allow_list(tmp_path, ALLOW_LIST_MAP).default == ""


def test_allow_list_default_is_empty_when_the_map_has_no_default_line(tmp_path: Path) -> None:
    block = 'map $http_origin $cors_origin {\n    "https://pos.retail.example" $http_origin;\n}\n'
    assert allow_list(tmp_path, block).default == ""


def test_allow_list_reports_a_non_empty_default_verbatim(tmp_path: Path) -> None:
    block = 'map $http_origin $cors_origin {\n    default "*";\n    "https://pos.retail.example" $http_origin;\n}\n'
    assert allow_list(tmp_path, block).default == "*"


def test_allow_list_leaves_out_origins_mapped_to_the_empty_value(tmp_path: Path) -> None:
    block = ('map $http_origin $cors_origin {\n    default "";\n    "https://pos.retail.example" $http_origin;\n'
             '    "https://retired.retail.example" "";\n}\n')
    assert allow_list(tmp_path, block).exact == ("https://pos.retail.example",)


def test_allow_list_puts_regex_keys_in_patterns_with_their_tilde_prefix(tmp_path: Path) -> None:
    block = ('map $http_origin $cors_origin {\n    default "";\n    "https://pos.retail.example" $http_origin;\n'
             '    "~^https://(www\\.)?shop\\.example$" $http_origin;\n'
             '    "~*^https://admin\\.retail\\.example$" $http_origin;\n}\n')
    found = allow_list(tmp_path, block)
    assert found.patterns == ("~^https://(www\\.)?shop\\.example$", "~*^https://admin\\.retail\\.example$")


def test_allow_list_never_counts_a_regex_key_as_an_exact_origin(tmp_path: Path) -> None:
    block = 'map $http_origin $cors_origin {\n    default "";\n    ~retail\\.example $http_origin;\n}\n'
    found = allow_list(tmp_path, block)
    assert found.exact == ()
    assert found.patterns == ("~retail\\.example",)


def test_allow_list_leaves_out_regex_keys_mapped_to_the_empty_value(tmp_path: Path) -> None:
    block = 'map $http_origin $cors_origin {\n    default "";\n    "~\\.evil\\.example$" "";\n}\n'
    assert allow_list(tmp_path, block).patterns == ()


@pytest.mark.parametrize("parameter", ["hostnames;", "volatile;", "include /etc/nginx/origins.map;"])
def test_allow_list_does_not_count_map_parameters_as_origins(tmp_path: Path, parameter: str) -> None:
    block = (f'map $http_origin $cors_origin {{\n    {parameter}\n    default "";\n'
             '    "https://pos.retail.example" $http_origin;\n}\n')
    found = allow_list(tmp_path, block)
    assert found.exact == ("https://pos.retail.example",)
    assert found.patterns == ()


def test_allow_list_ignores_maps_feeding_other_variables(tmp_path: Path) -> None:
    found = conf(tmp_path, OTHER_MAPS + ALLOW_LIST_MAP).cors_allow_list()
    assert found == CorsAllowList(("https://pos.retail.example", "https://backoffice.retail.example"), (), "")


def test_allow_list_reads_the_map_of_the_variable_asked_for(tmp_path: Path) -> None:
    block = 'map $http_origin $push_origin {\n    default "";\n    "https://kiosk.retail.example" $http_origin;\n}\n'
    found = conf(tmp_path, ALLOW_LIST_MAP + block).cors_allow_list("$push_origin")
    assert found.exact == ("https://kiosk.retail.example",)


def test_allow_list_without_the_map_names_the_file_the_map_and_the_fix(tmp_path: Path) -> None:
    path = write_conf(tmp_path, OTHER_MAPS)
    with pytest.raises(InputError) as info:
        NginxConf.load(path).cors_allow_list()
    assert info.value.file == str(path)
    assert info.value.key == "map $http_origin $cors_origin"
    assert info.value.problem == "no such map block"
    assert "map $http_origin $cors_origin" in info.value.fix


def test_allow_list_does_not_accept_a_map_from_another_source_variable(tmp_path: Path) -> None:
    block = 'map $http_referer $cors_origin {\n    default "";\n    "https://pos.retail.example" $http_origin;\n}\n'
    with pytest.raises(InputError):
        allow_list(tmp_path, block)


def test_allow_list_does_not_call_hostname_wildcards_exact_origins(tmp_path: Path) -> None:
    # With `hostnames`, nginx treats "*.retail.example" as a wildcard mask: it admits
    # https://anything.retail.example. It is not an origin "listed verbatim".
    block = ('map $http_origin $cors_origin {\n    hostnames;\n    default "";\n'
             '    "https://pos.retail.example" $http_origin;\n    *.retail.example $http_origin;\n}\n')
    assert "*.retail.example" not in allow_list(tmp_path, block).exact


# --- locations -------------------------------------------------------------------------------


def test_location_finds_an_exact_match_location_by_its_joined_arguments(tmp_path: Path) -> None:
    found = conf(tmp_path, ZONES + server(PUSH_LOCATION)).location(PUSH)
    assert found is not None
    assert found["args"] == ["=", "/loki/api/v1/push"]


def test_location_finds_a_regex_location_by_its_joined_arguments(tmp_path: Path) -> None:
    regex = "~ ^/loki/api/v1/(?:query|query_range|labels)$"
    loaded = conf(tmp_path, ZONES + server(f"        location {regex} {{\n            return 200;\n        }}\n"))
    assert loaded.location(regex) is not None


def test_location_does_not_confuse_a_prefix_location_with_an_exact_one(tmp_path: Path) -> None:
    loaded = conf(tmp_path, server("        location /loki/ {\n            return 403;\n        }\n"))
    assert loaded.location("= /loki/") is None


def test_location_is_none_when_no_server_has_it(tmp_path: Path) -> None:
    assert conf(tmp_path, ZONES + server(PUSH_LOCATION)).location("/prometheus/") is None


def test_location_finds_an_exact_match_written_without_a_space(tmp_path: Path) -> None:
    # nginx accepts `location =/path` as the same exact-match location as `location = /path`.
    loaded = conf(tmp_path, server("        location =/loki/api/v1/push {\n            return 204;\n        }\n"))
    assert loaded.location(PUSH) is not None


# --- routing: the location nginx picks, however the modifier is written -------------------------

LOKI_PREFIX = "        location /loki/ {\n            return 403;\n        }\n"


def push_conf(directory: Path, head: str, limit: str = "limit_req zone=loki_push burst=100 nodelay;") -> NginxConf:
    """A server with a /loki/ prefix location (no rate limit) and the push location written as ``head``."""
    push = f"        {head} {{\n            {limit}\n            return 204;\n        }}\n"
    return conf(directory, ZONES + server(LOKI_PREFIX, push))


def routed(loaded: NginxConf, uri: str) -> str:
    """The arguments of the innermost location serving ``uri`` on the first server, as written."""
    return " ".join(loaded.route(loaded.servers[0], uri)[-1]["args"])


@pytest.mark.parametrize("head", ["location = /loki/api/v1/push", "location =/loki/api/v1/push"])
def test_an_exact_location_routes_the_same_with_or_without_a_space(tmp_path: Path, head: str) -> None:
    loaded = push_conf(tmp_path, head)
    assert routed(loaded, "/loki/api/v1/push") == head.removeprefix("location ")
    assert routed(loaded, "/loki/api/v1/push/x") == "/loki/"       # an exact location matches that URI only


@pytest.mark.parametrize("head", ["location = /loki/api/v1/push", "location =/loki/api/v1/push"])
@pytest.mark.parametrize("asked", ["= /loki/api/v1/push", "=/loki/api/v1/push"])
def test_an_exact_locations_rate_limit_reads_the_same_with_or_without_a_space(tmp_path: Path, head: str,
                                                                              asked: str) -> None:
    assert push_conf(tmp_path, head).rate_limit(asked) == RateLimit("loki_push", 50.0, 100, True)


@pytest.mark.parametrize("head", ["location = /loki/api/v1/push", "location =/loki/api/v1/push"])
def test_the_push_rate_limit_judgement_reads_an_exact_location_with_or_without_a_space(tmp_path: Path,
                                                                                        head: str) -> None:
    assert nginx_policy.push_rate_limit(push_conf(tmp_path, head)) == []
    [finding] = nginx_policy.push_rate_limit(push_conf(tmp_path, head, "auth_basic off;"))
    assert finding.problem.startswith("push is not rate-limited")
    assert f"> {head}.limit_req" in finding.key


@pytest.mark.parametrize("head", ["location ^~ /static/", "location ^~/static/"])
def test_a_prefix_location_that_stops_the_regex_search_reads_the_same_with_or_without_a_space(tmp_path: Path,
                                                                                             head: str) -> None:
    regex = "        location ~* \\.png$ {\n            return 404;\n        }\n"
    loaded = conf(tmp_path, server(f"        {head} {{\n            return 200;\n        }}\n", regex))
    assert routed(loaded, "/static/logo.png") == head.removeprefix("location ")
    assert routed(loaded, "/img/logo.PNG") == "~* \\.png$"


@pytest.mark.parametrize("head", ["location ~* \\.php$", "location ~*\\.php$", "location ~ (?i)\\.php$",
                                  "location ~(?i)\\.php$"])
def test_a_regex_location_reads_the_same_with_or_without_a_space(tmp_path: Path, head: str) -> None:
    loaded = conf(tmp_path, server(LOKI_PREFIX, f"        {head} {{\n            return 404;\n        }}\n"))
    assert routed(loaded, "/loki/index.PHP") == head.removeprefix("location ")
    assert loaded.location(head.removeprefix("location ")) is not None


def test_a_regex_written_attached_with_a_caret_is_a_regex_not_a_prefix(tmp_path: Path) -> None:
    loaded = conf(tmp_path, server(LOKI_PREFIX, "        location ~^/loki/api/ {\n            return 404;\n        }\n"))
    assert routed(loaded, "/loki/api/v1/query") == "~^/loki/api/"


def test_nested_locations_of_the_longest_prefix_are_searched_before_the_servers_regexes(tmp_path: Path) -> None:
    nested = ("        location /loki/ {\n            location ~ \\.json$ {\n                return 200;\n            }\n"
              "            location = /loki/ready {\n                return 204;\n            }\n        }\n")
    outer = "        location ~ ^/loki/api/ {\n            return 404;\n        }\n"
    block = conf(tmp_path, server(nested, outer)).servers[0]

    def chain(uri: str) -> list[str]:
        return [" ".join(d["args"]) for d in select_location(block, uri)]

    assert chain("/loki/api/rules.json") == ["/loki/", "~ \\.json$"]      # a nested regex match ends the search
    assert chain("/loki/ready") == ["/loki/", "= /loki/ready"]
    assert chain("/loki/api/v1/query") == ["~ ^/loki/api/"]                # then the server's regexes
    assert chain("/loki/other") == ["/loki/"]
    assert chain("/grafana/") == []


def test_a_named_location_serves_no_uri(tmp_path: Path) -> None:
    loaded = conf(tmp_path, server("        location @fallback {\n            return 502;\n        }\n"))
    assert loaded.route(loaded.servers[0], "@fallback") == [loaded.http, loaded.servers[0]]


# --- push rate limit -------------------------------------------------------------------------


def test_rate_limit_reads_zone_rate_burst_and_nodelay_of_the_push_location(tmp_path: Path) -> None:
    loaded = conf(tmp_path, ZONES + server(PUSH_LOCATION))
    assert loaded.rate_limit(PUSH) == RateLimit("loki_push", 50.0, 100, True)


def test_rate_limit_converts_requests_per_minute_to_per_second(tmp_path: Path) -> None:
    zone = "limit_req_zone $binary_remote_addr zone=loki_push:10m rate=30r/m;\n"
    limit = push_limit(tmp_path, zone, "limit_req zone=loki_push burst=5;")
    assert limit is not None
    assert limit.rate_per_s == pytest.approx(0.5)


def test_rate_limit_burst_defaults_to_zero(tmp_path: Path) -> None:
    limit = push_limit(tmp_path, ZONES, "limit_req zone=loki_push;")
    assert limit is not None
    assert limit.burst == 0


def test_rate_limit_without_nodelay_delays(tmp_path: Path) -> None:
    limit = push_limit(tmp_path, ZONES, "limit_req zone=loki_push burst=20;")
    assert limit is not None
    assert limit.nodelay is False


def test_rate_limit_with_a_delay_threshold_is_not_nodelay(tmp_path: Path) -> None:
    limit = push_limit(tmp_path, ZONES, "limit_req zone=loki_push burst=20 delay=8;")
    assert limit == RateLimit("loki_push", 50.0, 20, False)


def test_rate_limit_uses_the_zone_named_not_one_sharing_its_prefix(tmp_path: Path) -> None:
    zones = ("limit_req_zone $binary_remote_addr zone=loki_push_slow:10m rate=1r/s;\n"
             "limit_req_zone $binary_remote_addr zone=loki_push:10m rate=50r/s;\n")
    limit = push_limit(tmp_path, zones, "limit_req zone=loki_push burst=100 nodelay;")
    assert limit is not None
    assert (limit.zone, limit.rate_per_s) == ("loki_push", 50.0)


def test_rate_limit_is_none_for_a_location_without_limit_req(tmp_path: Path) -> None:
    tail = "        location = /loki/api/v1/tail {\n            return 101;\n        }\n"
    assert conf(tmp_path, ZONES + server(PUSH_LOCATION, tail)).rate_limit("= /loki/api/v1/tail") is None


def test_rate_limit_of_an_unknown_location_names_it(tmp_path: Path) -> None:
    path = write_conf(tmp_path, ZONES + server())
    with pytest.raises(InputError) as info:
        NginxConf.load(path).rate_limit(PUSH)
    assert info.value.file == str(path)
    assert info.value.key == f"location {PUSH}"


def test_rate_limit_with_an_undefined_zone_names_the_zone_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        push_limit(tmp_path, "limit_req_status 429;\n", "limit_req zone=loki_push burst=100 nodelay;")
    assert info.value.key == "limit_req zone=loki_push"
    assert "no limit_req_zone" in info.value.problem
    assert info.value.fix == "define it in the http block"


@pytest.mark.parametrize("rate", ["rate=50r/h", "rate=fast", "rate=r/s"])
def test_rate_limit_with_an_unreadable_rate_names_the_rate(tmp_path: Path, rate: str) -> None:
    zone = f"limit_req_zone $binary_remote_addr zone=loki_push:10m {rate};\n"
    with pytest.raises(InputError) as info:
        push_limit(tmp_path, zone, "limit_req zone=loki_push;")
    assert info.value.key == "limit_req_zone loki_push"
    assert repr(rate.removeprefix("rate=")) in info.value.problem


def test_rate_limit_inherits_the_servers_limit_req_when_the_location_has_none(tmp_path: Path) -> None:
    # nginx: limit_req is inherited from the previous level iff the current level defines none.
    body = ZONES + ("    server {\n        listen 443 ssl;\n        limit_req zone=loki_push burst=100 nodelay;\n"
                    "        location = /loki/api/v1/push {\n            return 204;\n        }\n    }\n")
    assert conf(tmp_path, body).rate_limit(PUSH) == RateLimit("loki_push", 50.0, 100, True)


# --- the real stack ----------------------------------------------------------------------------


def test_real_nginx_conf_mounted_by_the_real_compose_file_yields_allow_list_and_push_limit(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "nginx").mkdir(parents=True)
    (secrets / "alertmanager").mkdir()
    env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "s3cret", "GRAFANA_SECRET_KEY": "k3y", "OBS_PUBLIC_URL": "https://obs.example"}
    loaded = NginxConf.of_service(load_compose(REAL_COMPOSE, env).services["nginx"])
    text = REAL_NGINX_CONF.read_text(encoding="utf-8")

    assert loaded.path == REAL_NGINX_CONF.resolve()
    allow = loaded.cors_allow_list()
    assert allow.exact and all(o.startswith("https://") and f'"{o}"' in text for o in allow.exact)
    assert allow.default == ""
    limit = loaded.rate_limit(PUSH)
    assert limit is not None and limit.rate_per_s > 0 and limit.burst >= 0
    assert f"zone={limit.zone}:" in text
