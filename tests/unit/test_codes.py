"""Join codes: what the generator draws, what normalise accepts, and the blocked words."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms_domain import RoomCode, ScriptedCodeGenerator, SecureCodeGenerator, normalise
from rooms_domain import codes as codes_module
from rooms_domain.codes import is_blocked
from rooms_domain.model import CODE_ALPHABET, CODE_LENGTH

# The blocked words that can appear in a code at all (the others hold I, L, O or U).
DRAWABLE_BLOCKED_WORDS = [w for w in codes_module._BLOCKED_WORDS if set(w) <= set(CODE_ALPHABET)]

codes = st.text(alphabet=CODE_ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH)


class ScriptedRandomness:
    """Stands in for ``secrets``: ``choice`` returns the scripted characters in order."""

    def __init__(self, characters: str) -> None:
        self._characters: Iterator[str] = iter(characters)
        self.calls = 0

    def choice(self, seq: Sequence[str]) -> str:
        self.calls += 1
        character = next(self._characters)
        assert character in seq
        return character


def draw_with(characters: str) -> tuple[RoomCode, ScriptedRandomness]:
    randomness = ScriptedRandomness(characters)
    with patch.object(codes_module, "secrets", randomness):
        return SecureCodeGenerator().next_code(), randomness


def assert_is_a_clean_code(code: str) -> None:
    assert isinstance(code, RoomCode)
    assert len(code) == CODE_LENGTH
    assert set(code) <= set(CODE_ALPHABET)
    assert normalise(code) == code
    assert not is_blocked(code)


# --- the generator ---------------------------------------------------------------------------


@given(st.lists(codes, min_size=1, max_size=5))
def test_every_generated_code_is_six_alphabet_characters_and_normal(draws: list[str]) -> None:
    """Whatever the random source returns, the code is clean and the first clean draw wins."""
    code, randomness = draw_with("".join(draws) + "000000")

    assert_is_a_clean_code(code)
    expected = next(d for d in [*draws, "000000"] if not is_blocked(d))
    assert code == expected
    assert randomness.calls % CODE_LENGTH == 0


@given(
    words=st.lists(st.sampled_from(DRAWABLE_BLOCKED_WORDS), min_size=1, max_size=4),
    data=st.data(),
)
def test_a_code_holding_a_blocked_word_is_redrawn(words: list[str], data: st.DataObject) -> None:
    blocked_draws = []
    for word in words:
        pad = CODE_LENGTH - len(word)
        at = data.draw(st.integers(0, pad), label="position")
        filler = data.draw(st.text(alphabet=CODE_ALPHABET, min_size=pad, max_size=pad))
        blocked_draws.append(filler[:at] + word + filler[at:])
    clean = data.draw(codes.filter(lambda c: not is_blocked(c)), label="clean")

    code, randomness = draw_with("".join(blocked_draws) + clean)

    assert all(is_blocked(d) for d in blocked_draws)
    assert code == clean
    assert randomness.calls == CODE_LENGTH * (len(blocked_draws) + 1)


def test_a_blocked_draw_is_redrawn_with_scripted_randomness() -> None:
    code, randomness = draw_with("ASS123" + "12SEX9" + "KKK000" + "7Q4T2M")
    assert code == "7Q4T2M"
    assert randomness.calls == 4 * CODE_LENGTH


def test_many_secure_draws_are_clean_and_use_the_whole_alphabet() -> None:
    generator = SecureCodeGenerator()
    drawn = [generator.next_code() for _ in range(5000)]
    for code in drawn:
        assert_is_a_clean_code(code)
    # 30,000 characters: missing one of 32 letters has a probability of about 1e-400.
    assert set("".join(drawn)) == set(CODE_ALPHABET)


# --- the blocked words -----------------------------------------------------------------------


@pytest.mark.parametrize("word", DRAWABLE_BLOCKED_WORDS)
def test_every_drawable_blocked_word_is_caught_anywhere_in_a_code(word: str) -> None:
    for at in range(CODE_LENGTH - len(word) + 1):
        code = ("0" * at + word).ljust(CODE_LENGTH, "0")
        assert is_blocked(code), code


def test_blocked_words_are_matched_on_the_normalised_form() -> None:
    assert normalise("boob12") == "B00B12"
    assert is_blocked(normalise("boob12"))
    assert is_blocked(normalise("d-i-c-k-9-9"))


def test_a_clean_code_is_not_blocked() -> None:
    assert not is_blocked("7Q4T2M")
    assert not is_blocked("000000")


# --- normalise -------------------------------------------------------------------------------


@given(codes)
def test_a_canonical_code_normalises_to_itself(code: str) -> None:
    assert normalise(code) == code
    assert isinstance(normalise(code), RoomCode)


@given(code=codes, data=st.data())
def test_what_people_type_normalises_to_the_code(code: str, data: st.DataObject) -> None:
    typos = {"1": ["1", "I", "i", "L", "l"], "0": ["0", "O", "o"]}
    typed = ""
    for character in code:
        variants = typos.get(character, [character, character.lower()])
        typed += data.draw(st.sampled_from(variants))
        typed += data.draw(st.sampled_from(["", "", " ", "-", "  ", "--"]))
    typed = (
        data.draw(st.sampled_from(["", " ", "\t"]))
        + typed
        + data.draw(st.sampled_from(["", " ", "\n"]))
    )

    assert normalise(typed) == code


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("ab12cd", "AB12CD"),
        ("AB 12 CD", "AB12CD"),
        ("AB-12-CD", "AB12CD"),
        (" ab-12 cd ", "AB12CD"),
        ("IL0Oio", "110010"),
        ("ilioLO", "111010"),
    ],
)
def test_normalise_examples(typed: str, code: str) -> None:
    assert normalise(typed) == code


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("AB12CU", id="U"),
        pytest.param("ab12cu", id="u"),
        pytest.param("AB12C", id="five"),
        pytest.param("AB12CDE", id="seven"),
        pytest.param("", id="empty"),
        pytest.param("  -- ", id="only-separators"),
        pytest.param("AB12C!", id="punctuation"),
        pytest.param("AB12C_", id="underscore"),
        pytest.param("AB.2CD", id="dot"),
        pytest.param("AB12C\u0394", id="greek"),
        pytest.param("AB1\t2CD", id="inner-tab"),
        pytest.param("ab12c\u00e9", id="accented"),
    ],
)
def test_normalise_rejects_anything_else(typed: str) -> None:
    with pytest.raises(ValueError, match="room code"):
        normalise(typed)


@pytest.mark.parametrize("typed", ["abcdß", "ab\ufb00cd"])
def test_normalise_rejects_characters_that_expand_when_upper_cased(typed: str) -> None:
    with pytest.raises(ValueError, match="room code"):
        normalise(typed)


TYPABLE = CODE_ALPHABET + CODE_ALPHABET.lower() + "iIlLoOuU -_.!"


@given(st.text(alphabet=TYPABLE, max_size=10))
def test_normalise_accepts_exactly_six_alphabet_characters_after_cleaning(typed: str) -> None:
    cleaned = typed.replace(" ", "").replace("-", "").upper()
    cleaned = cleaned.replace("I", "1").replace("L", "1").replace("O", "0")
    if len(cleaned) == CODE_LENGTH and set(cleaned) <= set(CODE_ALPHABET):
        assert normalise(typed) == cleaned
    else:
        with pytest.raises(ValueError, match="room code"):
            normalise(typed)


# --- the scripted generator ------------------------------------------------------------------


def test_the_scripted_generator_returns_its_codes_then_secure_ones() -> None:
    generator = ScriptedCodeGenerator(["AAAAAA", "BBBBBB"])

    assert generator.next_code() == "AAAAAA"
    assert generator.next_code() == "BBBBBB"
    assert_is_a_clean_code(generator.next_code())
    assert generator.drawn == 3


def test_the_scripted_generator_refuses_an_invalid_code_up_front() -> None:
    with pytest.raises(ValueError, match="room code"):
        ScriptedCodeGenerator(["AAAAAA", "NOT-A-CODE"])
