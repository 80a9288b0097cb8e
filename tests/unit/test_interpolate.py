"""obsgate.stackfiles.interpolate: compose-style variable substitution, stricter where a blank would hurt."""

from __future__ import annotations

import pytest

from obsgate.stackfiles.interpolate import InterpolationError, interpolate

SET = {"NAME": "value"}
EMPTY = {"NAME": ""}
UNSET: dict[str, str] = {}


# --- literals ---------------------------------------------------------------------------

def test_text_without_references_is_unchanged() -> None:
    assert interpolate("plain text: with colons, {braces} and - dashes", UNSET) == (
        "plain text: with colons, {braces} and - dashes"
    )


def test_double_dollar_is_a_literal_dollar() -> None:
    assert interpolate("cost $$5", UNSET) == "cost $5"


def test_double_dollar_before_a_name_is_not_interpolated() -> None:
    assert interpolate("echo $$NAME", UNSET) == "echo $NAME"


def test_double_dollar_before_braces_is_not_interpolated() -> None:
    assert interpolate("echo $${NAME}", UNSET) == "echo ${NAME}"


# --- $VAR and ${VAR} ----------------------------------------------------------------------

def test_bare_dollar_name_is_replaced_by_its_value() -> None:
    assert interpolate("x=$NAME", SET) == "x=value"


def test_bare_dollar_name_ends_at_the_first_non_name_character() -> None:
    assert interpolate("$NAME.conf", SET) == "value.conf"


def test_braced_name_is_replaced_by_its_value() -> None:
    assert interpolate("${NAME}suffix", SET) == "valuesuffix"


def test_several_references_in_one_string_are_all_replaced() -> None:
    assert interpolate("${A}:$B/${A}", {"A": "1", "B": "2"}) == "1:2/1"


def test_braced_name_set_to_empty_gives_empty_string() -> None:
    assert interpolate("[${NAME}]", EMPTY) == "[]"


def test_unset_braced_name_is_an_error_unlike_compose() -> None:
    with pytest.raises(InterpolationError, match="NAME is not set"):
        interpolate("${NAME}", UNSET)


def test_unset_braced_name_error_suggests_a_default() -> None:
    with pytest.raises(InterpolationError, match=r"\$\{NAME:-default\}"):
        interpolate("${NAME}", UNSET)


def test_unset_bare_dollar_name_is_an_error() -> None:
    with pytest.raises(InterpolationError, match="NAME is not set"):
        interpolate("$NAME", UNSET)


def test_interpolation_error_is_a_value_error() -> None:
    assert issubclass(InterpolationError, ValueError)


# --- ${VAR:-default} / ${VAR-default} -------------------------------------------------------

def test_colon_dash_default_used_when_unset() -> None:
    assert interpolate("${NAME:-fallback}", UNSET) == "fallback"


def test_colon_dash_default_used_when_empty() -> None:
    assert interpolate("${NAME:-fallback}", EMPTY) == "fallback"


def test_colon_dash_default_ignored_when_set() -> None:
    assert interpolate("${NAME:-fallback}", SET) == "value"


def test_dash_default_used_when_unset() -> None:
    assert interpolate("${NAME-fallback}", UNSET) == "fallback"


def test_dash_default_not_used_when_empty() -> None:
    assert interpolate("${NAME-fallback}", EMPTY) == ""


def test_dash_default_ignored_when_set() -> None:
    assert interpolate("${NAME-fallback}", SET) == "value"


def test_empty_default_gives_empty_string_for_unset_variable() -> None:
    assert interpolate("[${NAME:-}]", UNSET) == "[]"


def test_default_may_contain_colons_dashes_and_slashes() -> None:
    assert interpolate("${NAME:-http://a-b:80/x}", UNSET) == "http://a-b:80/x"


# --- ${VAR:?message} / ${VAR?message} -------------------------------------------------------

def test_colon_question_raises_with_message_when_unset() -> None:
    with pytest.raises(InterpolationError, match="NAME is not set: give me a name"):
        interpolate("${NAME:?give me a name}", UNSET)


def test_colon_question_raises_when_empty() -> None:
    with pytest.raises(InterpolationError, match="NAME"):
        interpolate("${NAME:?give me a name}", EMPTY)


def test_colon_question_returns_value_when_set() -> None:
    assert interpolate("${NAME:?give me a name}", SET) == "value"


def test_question_raises_with_message_when_unset() -> None:
    with pytest.raises(InterpolationError, match="NAME is not set: give me a name"):
        interpolate("${NAME?give me a name}", UNSET)


def test_question_accepts_empty_value() -> None:
    assert interpolate("[${NAME?give me a name}]", EMPTY) == "[]"


def test_question_returns_value_when_set() -> None:
    assert interpolate("${NAME?give me a name}", SET) == "value"


def test_required_variable_without_message_still_names_the_variable() -> None:
    with pytest.raises(InterpolationError, match="required variable NAME"):
        interpolate("${NAME:?}", UNSET)


# --- ${VAR:+alt} / ${VAR+alt} ----------------------------------------------------------------

def test_colon_plus_gives_alternative_when_set() -> None:
    assert interpolate("${NAME:+on}", SET) == "on"


def test_colon_plus_gives_empty_when_empty() -> None:
    assert interpolate("[${NAME:+on}]", EMPTY) == "[]"


def test_colon_plus_gives_empty_when_unset() -> None:
    assert interpolate("[${NAME:+on}]", UNSET) == "[]"


def test_plus_gives_alternative_when_set() -> None:
    assert interpolate("${NAME+on}", SET) == "on"


def test_plus_gives_alternative_when_empty() -> None:
    assert interpolate("${NAME+on}", EMPTY) == "on"


def test_plus_gives_empty_when_unset() -> None:
    assert interpolate("[${NAME+on}]", UNSET) == "[]"


# --- malformed references ------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    ["${A", "prefix ${NAME:-x", "${}", "${A B}", "${1A}", "${A!}"],
    ids=["unclosed", "unclosed-with-default", "empty", "space", "leading-digit", "bad-operator"],
)
def test_malformed_reference_is_an_error(text: str) -> None:
    with pytest.raises(InterpolationError, match="malformed variable reference"):
        interpolate(text, {"A": "1", "NAME": "n"})


# --- nested references (compose resolves these; a stray brace or literal is never right) ----

def test_nested_reference_in_default_is_resolved_or_rejected_when_outer_is_set() -> None:
    try:
        result = interpolate("${A:-${B}}", {"A": "x", "B": "y"})
    except InterpolationError:
        return
    assert result == "x"


def test_variable_in_default_is_resolved_or_rejected_when_outer_is_unset() -> None:
    try:
        result = interpolate("${A:-$B}", {"B": "y"})
    except InterpolationError:
        return
    assert result == "y"
