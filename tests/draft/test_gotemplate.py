from __future__ import annotations

import pytest

from extractor import yamlio
from extractor.draft.gotemplate import Block, Go, Tpl, contains_template, dump_template
from extractor.errors import EmitError


def test_tpl_scalar_is_double_quoted_with_go_action() -> None:
    text = dump_template({"metadata": {"namespace": Tpl(Go(".Release.Namespace"))}})
    assert text == 'metadata:\n  namespace: "{{ .Release.Namespace }}"\n'


def test_tpl_mixes_escaped_literals_and_actions() -> None:
    text = dump_template({"args": [Tpl('--ns="', Go(".Release.Namespace"), '"\\x')]})
    assert text == 'args:\n- "--ns=\\"{{ .Release.Namespace }}\\"\\\\x"\n'


def test_block_key_becomes_indented_template_lines() -> None:
    obj = {"kind": "ServiceAccount", "metadata": {"name": "a", Block('{{- include "c.labels" . | nindent 4 }}'): None}}
    text = dump_template(obj)
    assert text == 'kind: ServiceAccount\nmetadata:\n  name: a\n  {{- include "c.labels" . | nindent 4 }}\n'


def test_block_key_first_in_a_list_item_follows_the_dash() -> None:
    """An image field that the bundle writes first in its container (``- image: x``) stays first."""
    obj = {"containers": [{Block("image: {{ x }}\n# two"): None, "name": "m"}, {"name": "n"}]}
    # 'n' is quoted: go-yaml reads a plain n as a boolean
    assert dump_template(obj) == "containers:\n- image: {{ x }}\n  # two\n  name: m\n- name: 'n'\n"


def test_plain_data_is_plain_yaml() -> None:
    obj = {"a": "yes", "b": {}, "c": [1, "x"]}
    assert dump_template(obj) == yamlio.dump(obj)
    assert not contains_template(obj)
    assert contains_template({"a": [Tpl("x")]})


def test_actions_with_quotes_are_refused() -> None:
    with pytest.raises(EmitError, match="cannot be embedded"):
        Tpl(Go('include "x" .'))


def test_bundle_content_that_looks_like_a_placeholder_is_refused() -> None:
    with pytest.raises(EmitError, match="placeholder"):
        dump_template({"a": "zzgotpl0x", "b": Tpl(Go(".Release.Namespace"))})


def test_literal_braces_in_bundle_text_are_escaped_for_go_templates() -> None:
    obj = {"description": "use {{ .Values.x }} and {{{ literally", "ns": Tpl(Go(".Release.Namespace"))}
    text = dump_template(obj)
    assert 'description: use {{"{{"}} .Values.x }} and {{"{{"}}{ literally\n' in text
    assert 'ns: "{{ .Release.Namespace }}"' in text
