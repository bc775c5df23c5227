"""The docker CLI's output formats as `cnm network|container` reproduce them.

Expected texts are what docker 28 prints for the same data.
"""

from __future__ import annotations

import json

import pytest

from emulator.client import format as fmt
from emulator.client.container import container_row, human_size
from emulator.client.container import list_format as container_format
from emulator.client.network import TITLES as NETWORK_TITLES
from emulator.client.network import ipam_pools, network_row
from emulator.client.network import list_format as network_format
from emulator.client.template import Template, TemplateError

BRIDGE = {
    "Name": "bridge", "Id": "2153eee5ee0408bf86c336ad0d8276d144ce41788fc93ebe8b0fced1970c8b41",
    "Created": "2026-11-29T00:26:35.018091000Z", "Scope": "local", "Driver": "bridge",
    "EnableIPv6": False, "Internal": False, "Labels": {},
}
HOST = {**BRIDGE, "Name": "host", "Driver": "host", "Created": "2026-11-29T00:26:35.00005Z",
        "Id": "5dc4ad14bb36124d74a42958902385542b38002b85db5930a3898fc5f4039eaf"}
NONE = {**BRIDGE, "Name": "none", "Driver": "null",
        "Id": "931f2d01ff6c69eaf3bc55497750cf94be1e807345fbb199430d2947356780f1"}
N2 = {**BRIDGE, "Name": "n2", "Internal": True, "Labels": {"x": "y", "z": ""},
      "Id": "7b6e3bcafada00b05edab5b64b52bc8e99f4d2bd06a4232819fa37e30fbda6a2"}


def networks_out(fmt_string: str, networks: list[dict], quiet: bool = False,
                 trunc: bool = True) -> str:
    rows = [network_row(n, trunc) for n in fmt.natural_sorted(networks, key=lambda n: n["Name"])]
    return fmt.write_list(network_format(fmt_string, quiet), rows, NETWORK_TITLES)


# -- network ls ----------------------------------------------------------------------


def test_network_ls_default_table():
    assert networks_out("table", [NONE, HOST, N2, BRIDGE]) == (
        "NETWORK ID     NAME      DRIVER    SCOPE\n"
        "2153eee5ee04   bridge    bridge    local\n"
        "5dc4ad14bb36   host      host      local\n"
        "7b6e3bcafada   n2        bridge    local\n"
        "931f2d01ff6c   none      null      local\n")


def test_network_ls_no_trunc_widens_the_id_column():
    out = networks_out("table", [BRIDGE], trunc=False)
    assert out.splitlines()[0] == "NETWORK ID" + " " * 57 + "NAME      DRIVER    SCOPE"
    assert out.splitlines()[1].startswith(BRIDGE["Id"] + "   bridge    ")


def test_network_ls_quiet_and_empty():
    assert networks_out("table", [BRIDGE, HOST], quiet=True) == "2153eee5ee04\n5dc4ad14bb36\n"
    assert networks_out("table", []) == "NETWORK ID   NAME      DRIVER    SCOPE\n"


def test_a_template_wins_over_quiet_for_networks():
    assert networks_out("{{.Name}}", [HOST, BRIDGE], quiet=True) == "bridge\nhost\n"


def test_network_ls_template_fields():
    out = networks_out("{{.Name}} {{.Internal}} {{.IPv6}} {{.Labels}}", [BRIDGE, N2])
    assert out == "bridge false false \nn2 true false x=y,z=\n"


def test_network_ls_table_template_with_escaped_tabs_and_a_label_column():
    out = networks_out('table {{.Name}}\\t{{.Label "x"}}\\t{{.Scope}}', [BRIDGE, N2])
    assert out == ("NAME      x         SCOPE\n"
                   "bridge              local\n"
                   "n2        y         local\n")


def test_network_ls_header_functions_keep_the_titles():
    out = networks_out("table {{upper .Name}}|{{json .Driver}}|{{pad .Scope 2 1}}|"
                       "{{truncate .ID 3}}", [BRIDGE])
    assert out == 'NAME|DRIVER|  SCOPE |NETWORK ID\nBRIDGE|"bridge"|  local |215\n'


def test_network_ls_json_is_docker_marshal_of_the_context():
    line = networks_out("json", [HOST]).strip()
    assert line == ('{"CreatedAt":"2026-11-29 00:26:35.00005 +0000 UTC","Driver":"host",'
                    '"ID":"5dc4ad14bb36","IPv4":"false","IPv6":"false","Internal":"false",'
                    '"Labels":"","Name":"host","Scope":"local"}')


def test_json_of_a_row_escapes_html_like_go():
    row = network_row({**BRIDGE, "Labels": {"a": "<b>&"}})
    assert '"Labels":"a=\\u003cb\\u003e\\u0026"' in row.to_json()


def test_an_unknown_field_is_docker_template_error():
    with pytest.raises(fmt.FormatError) as caught:
        networks_out("{{.Foo}}", [BRIDGE])
    assert caught.value.message == (
        'template parsing error: template: :1:2: executing "" at <.Foo>: can\'t evaluate '
        "field Foo in type *network.networkContext")


def test_an_unknown_function_is_a_parse_error():
    with pytest.raises(fmt.FormatError) as caught:
        networks_out("{{nope .Name}}", [BRIDGE])
    assert caught.value.message == ('template parsing error: template: :1: function "nope" '
                                    "not defined")


def test_natural_sort_orders_numbers_by_value():
    names = ["net10", "net2", "b", "net1", "a0", "a"]
    assert fmt.natural_sorted(names) == ["a", "a0", "b", "net1", "net2", "net10"]


# -- container ls ---------------------------------------------------------------------


def summary(**extra) -> dict:
    base = {"Id": "98da5804be598ffb635a6b86786140c87c614f4f257d82580e165c8f6d9f8f67",
            "Names": ["/c1"], "Image": "alpine", "ImageID": "", "Command": "sleep 300",
            "Created": 1000, "Ports": [], "Labels": {}, "State": "running",
            "Status": "Up 2 minutes", "NetworkSettings": {"Networks": {"bridge": {}}},
            "Mounts": []}
    return {**base, **extra}


def test_container_ls_default_table():
    rows = [container_row(summary(), now=1000 + 125),
            container_row(summary(Id="053b5bae5da6" + "0" * 52, Names=["/c3"],
                                  Command="sh -c 'exit 0'", State="exited",
                                  Status="Exited (0) Less than a second ago"), now=1000.5)]
    out = fmt.write_list(container_format("", False), rows, {
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
        "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES"})
    assert out == (
        "CONTAINER ID   IMAGE     COMMAND            CREATED                  "
        "STATUS                              PORTS     NAMES\n"
        '98da5804be59   alpine    "sleep 300"        2 minutes ago            '
        "Up 2 minutes                                  c1\n"
        '053b5bae5da6   alpine    "sh -c \'exit 0\'"   Less than a second ago   '
        "Exited (0) Less than a second ago             c3\n")


def test_container_command_is_truncated_then_quoted():
    row = container_row(summary(Command='sh -c "echo a very long command line"'))
    assert row.values["Command"] == '"sh -c \\"echo a very …"'
    full = container_row(summary(Command="sh -c 'x'"), trunc=False)
    assert full.values["Command"] == "\"sh -c 'x'\""


def test_container_quiet_wins_over_a_template():
    assert container_format("{{.Names}}", True) == "{{.ID}}"
    assert container_format("table", False).startswith("table {{.ID}}\t{{.Image}}")


def test_container_names_and_image_columns():
    row = container_row(summary(Names=["/c1", "/other/link"],
                                Image="docker.io/library/alpine:3.20@sha256:" + "a" * 64))
    assert row.values["Names"] == "c1"
    assert row.values["Image"] == "alpine:3.20"
    assert container_row(summary(Names=["/c1", "/other/link"]), trunc=False
                         ).values["Names"] == "c1,other/link"
    assert container_row(summary(Image="")).values["Image"] == "<no image>"
    assert container_row(summary(Image="docker.io/me/app")).values["Image"] == "me/app"


def test_container_json_has_docker_fields_and_a_null_platform():
    row = container_row(summary(Labels={"b": "2", "a": "1"}), now=1003)
    data = json.loads(row.to_json())
    assert list(data) == sorted(data)
    assert data["Platform"] is None
    assert data["Labels"] == "a=1,b=2"
    assert data["RunningFor"] == "3 seconds ago"
    assert data["Size"] == "0B"
    assert data["Networks"] == "bridge"
    assert Template("{{.Platform}}").execute(row) == "<nil>"


def test_container_template_check_is_docker_ps_wording():
    with pytest.raises(fmt.FormatError) as caught:
        fmt.check_template(r'table {{.Names}}\t{{.Label "x"}}\t{{.Foo}}', container_row({}))
    assert caught.value.message == (
        'failed to execute template: template: :1:36: executing "" at <.Foo>: can\'t '
        "evaluate field Foo in type *formatter.ContainerContext")


def test_ports_column():
    ports = [{"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"},
             {"PrivatePort": 9000, "Type": "tcp"}, {"PrivatePort": 9001, "Type": "tcp"},
             {"PrivatePort": 53, "PublicPort": 53, "IP": "0.0.0.0", "Type": "udp"}]
    assert fmt.displayable_ports(ports) == ("0.0.0.0:53->53/udp, 9000-9001/tcp, "
                                            "0.0.0.0:8080->80/tcp")


def test_human_size():
    assert human_size(0) == "0B"
    assert human_size(1234) == "1.23kB"
    assert human_size(21_500_000) == "21.5MB"


# -- helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (150, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"), (5400, "2 hours"),
    (47 * 3600, "47 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
    (90 * 86400, "3 months"), (800 * 86400, "2 years"),
])
def test_human_duration(seconds, text):
    assert fmt.human_duration(seconds) == text


def test_ellipsis():
    assert fmt.ellipsis("short", 20) == "short"
    assert fmt.ellipsis("a" * 25, 20) == "a" * 19 + "…"
    assert fmt.ellipsis("你好世界你好", 5) == "你好…"
    assert fmt.ellipsis("abc", 1) == "a"


def test_truncate_id():
    assert fmt.truncate_id("sha256:" + "f" * 64) == "f" * 12
    assert fmt.truncate_id("abc") == "abc"


def test_go_time_trims_the_fraction():
    assert fmt.go_time("2026-11-29T00:26:35.018091000Z") == "2026-11-29 00:26:35.018091 +0000 UTC"
    assert fmt.go_time("2026-11-29T00:26:35Z") == "2026-11-29 00:26:35 +0000 UTC"


def test_go_quote():
    assert fmt.go_quote('a "b"\n\x01é') == '"a \\"b\\"\\n\\x01é"'


def test_tabwriter_columns_are_per_block_of_lines():
    assert fmt.tabwrite("a\tb\tc\naaaaaaaaaaaaa\tb\tc\n") == (
        "a               b         c\naaaaaaaaaaaaa   b         c\n")
    # A line without the column ends the block: the next block has its own widths.
    assert fmt.tabwrite("aaaaaaaaaaaaaaa\tx\nno tabs\nb\ty\n") == (
        "aaaaaaaaaaaaaaa   x\nno tabs\nb         y\n")
    assert fmt.tabwrite("宽字\tx\n") == "宽字      x\n"


# -- inspect -------------------------------------------------------------------------------


RAW = b'{"Name":"bridge","IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":' \
      b'"172.17.0.0/16"}]},"Containers":{},"Labels":[],"Text":"a, b: {c} [d] \\"e\\""}\n'


def test_inspect_indents_like_go_json_indent():
    out, errors = fmt.inspect_output([RAW], None)
    assert errors == []
    expected = json.dumps([json.loads(RAW)], indent=4) + "\n"
    assert out.decode() == expected
    assert b'"Containers": {},' in out and b'"Labels": [],' in out


def test_inspect_keeps_the_bytes_of_strings():
    raw = b'{"Name":"caf\\u00e9 <x>","Other":"\xc3\xa9"}'
    out, _ = fmt.inspect_output([raw, raw], None)
    assert out.decode() == ('[\n    {\n        "Name": "caf\\u00e9 <x>",\n        "Other": "é"\n'
                            '    },\n    {\n        "Name": "caf\\u00e9 <x>",\n'
                            '        "Other": "é"\n    }\n]\n')


def test_inspect_of_nothing_and_json_format():
    assert fmt.inspect_output([], None) == (b"[]\n", [])
    out, _ = fmt.inspect_output([RAW], "json")
    assert out == b"[" + RAW.strip() + b"]\n"


def test_inspect_template_and_its_errors():
    out, errors = fmt.inspect_output([RAW], "{{.Name}} {{.IPAM.Driver}} {{json .IPAM.Config}}")
    assert (out, errors) == (b'bridge default [{"Subnet":"172.17.0.0/16"}]\n', [])
    out, errors = fmt.inspect_output([RAW], "{{.Foo}}")
    assert out == b"\n"
    assert errors == ['template parsing error: template: :1:2: executing "" at <.Foo>: map '
                      'has no entry for key "Foo"']
    with pytest.raises(fmt.FormatError) as caught:
        fmt.inspect_output([RAW], "{{.Name")
    assert caught.value.status == 64


# -- the template language -----------------------------------------------------------------


DATA = {"Name": "web", "Nets": {"b": {"IP": "10.0.0.2"}, "a": {"IP": "10.0.0.1"}},
        "Cmd": ["sleep", "5"], "Empty": [], "Null": None, "Count": 3, "On": True}


@pytest.mark.parametrize(("source", "expected"), [
    ("{{.Name}}", "web"),
    ("{{ .Name | upper }}", "WEB"),
    ("{{range $k, $v := .Nets}}{{$k}}={{$v.IP}} {{end}}", "a=10.0.0.1 b=10.0.0.2 "),
    ("{{range .Cmd}}<{{.}}>{{end}}", "<sleep><5>"),
    ("{{range .Empty}}x{{else}}none{{end}}", "none"),
    ("{{if .On}}yes{{else}}no{{end}}", "yes"),
    ("{{if not .On}}a{{else if eq .Count 3}}b{{else}}c{{end}}", "b"),
    ("{{with .Nets.a}}{{.IP}}{{end}}", "10.0.0.1"),
    ("{{index .Nets \"b\" | json}}", '{"IP":"10.0.0.2"}'),
    ("{{join .Cmd \" \"}}", "sleep 5"),
    ("{{len .Cmd}} {{.Count}} {{.On}}", "2 3 true"),
    ("{{.Null}}", "<no value>"),
    ("{{.Cmd}} {{.Nets}}", "[sleep 5] map[a:map[IP:10.0.0.1] b:map[IP:10.0.0.2]]"),
    ("a  {{- .Name -}}  b", "awebb"),
    ("{{/* a comment */}}x", "x"),
    ('{{printf "%s-%d" .Name .Count}}', "web-3"),
    ("{{$n := .Name}}{{$n}}{{$.Count}}", "web3"),
    ("{{(index .Cmd 1)}}{{title \"hello world\"}}", "5Hello World"),
    ("{{split \"a,b\" \",\"}}", "[a b]"),
])
def test_template(source, expected):
    assert Template(source).execute(DATA) == expected


@pytest.mark.parametrize(("source", "message"), [
    ("{{.Name", "template: :1: unclosed action"),
    ("{{if .On}}x", "template: :1: unexpected EOF"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{.Name.Foo}}", 'template: :1:2: executing "" at <.Name.Foo>: can\'t evaluate field '
                      "Foo in type string"),
    ("x\n{{pad .Name 1}}", 'template: :2:2: executing "" at <pad>: wrong number of args for '
                           "pad: want 3 got 2"),
])
def test_template_errors(source, message):
    with pytest.raises(TemplateError) as caught:
        Template(source).execute(DATA)
    assert str(caught.value) == message


# -- network create's IPAM flags -------------------------------------------------------------


def test_ipam_pools_group_by_subnet():
    pools = ipam_pools(["10.5.0.0/24"], ["10.5.0.128/25"], ["10.5.0.1"], {"a": "10.5.0.5"})
    assert pools == [{"Subnet": "10.5.0.0/24", "IPRange": "10.5.0.128/25",
                      "Gateway": "10.5.0.1", "AuxiliaryAddresses": {"a": "10.5.0.5"}}]


@pytest.mark.parametrize(("args", "message"), [
    (([], [], ["10.0.0.1"], {}), "every ip-range or gateway must have a corresponding subnet"),
    ((["10.9.0.0/24"], [], ["10.8.0.1"], {}), "no matching subnet for gateway 10.8.0.1"),
    ((["10.9.0.0/24"], [], [], {"a": ""}), "no matching subnet for aux-address "),
    ((["10.9.0.0/24"], ["10.8.0.0/25"], [], {}), "no matching subnet for range 10.8.0.0/25"),
    ((["10.0.0.0/8", "10.1.0.0/16"], [], [], {}),
     "multiple overlapping subnet configuration is not supported"),
])
def test_ipam_flag_errors_are_docker_cli_messages(args, message):
    from emulator.client.command import ClientError

    with pytest.raises(ClientError) as caught:
        ipam_pools(*args)
    assert caught.value.message == message
