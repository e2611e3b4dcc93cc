import statistics

import pytest

from emoprompt.errors import UsageError
from emoprompt.stimuli import builtin_library, load_library
from tests.conftest import requires_model


def test_library_has_the_published_sets_and_controls():
    library = builtin_library()
    assert [s.id for s in library.family("emotionprompt")] == [f"EP{i:02d}" for i in range(1, 12)]
    assert [s.id for s in library.family("negativeprompt")] == [f"NP{i:02d}" for i in range(1, 11)]
    assert len(library.family("placebo")) >= 3
    assert len(library.family("control")) >= 1
    assert all(s.source for s in library)


def test_texts_are_verbatim():
    library = builtin_library()
    assert library.get("EP02").text == "This is very important to my career."
    assert library.get("EP03").text == "You'd better be sure."
    assert library.get("NP01").text == "You've never been particularly good at this, have you?"
    assert library.get("NP06").text == "Everyone else managed to do it; why can't you?"


def test_negativeprompt_keeps_both_numberings():
    library = builtin_library()
    pnums = {s.id: s.code_pnum for s in library.family("negativeprompt")}
    assert pnums["NP04"] == 6 and pnums["NP05"] == 7 and pnums["NP06"] == 4 and pnums["NP07"] == 5
    assert sorted(pnums.values()) == list(range(1, 11))
    assert not library.get("NP04").mapping_verified


def test_ep06_has_both_forms_and_code_form_is_default():
    ep06 = builtin_library().get("EP06")
    assert ep06.text.startswith("Provide your answer and a confidence score")
    figure = builtin_library().get("EP06:figure")
    assert figure.label == "EP06:figure"
    parts = [builtin_library().get(i).text for i in ("EP01", "EP02", "EP03")]
    assert figure.text == " ".join(parts)


def test_promptbench_variant_is_byte_exact():
    assert builtin_library().get("EP03:promptbench").text == "You\u2019d better be sure."
    assert builtin_library().get("EP01:promptbench").text.startswith("write your answer")


def test_theories_are_sets():
    library = builtin_library()
    assert library.get("EP07").theories == {"social-cognitive", "cognitive-emotion-regulation"}
    assert library.get("NP08").theories == {"stress-and-coping"}


def test_unknown_id_suggests():
    with pytest.raises(UsageError, match="Did you mean 'EP02'"):
        builtin_library().get("EP2")
    with pytest.raises(UsageError, match="unknown variant"):
        builtin_library().get("EP02:figure")


def test_user_stimulus_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('source = "me"\n[[stimulus]]\nid = "MY01"\ntext = "Please be kind."\n')
    library = load_library([path])
    assert library.get("MY01").family == "user"
    path.write_text('[[stimulus]]\nid = "EP02"\ntext = "dup"\n')
    with pytest.raises(UsageError, match="defined twice"):
        load_library([path])
    path.write_text('[[stimulus]]\nid = "X"\ntext = "t"\ncolour = "red"\n')
    with pytest.raises(UsageError, match="unknown key"):
        load_library([path])


@requires_model
def test_placebos_are_length_matched(smollm2_folder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder)
    library = builtin_library()

    def length(text: str) -> int:
        return len(tokenizer(" " + text, add_special_tokens=False).input_ids)

    stimuli = library.family("emotionprompt") + library.family("negativeprompt")
    median = statistics.median(length(s.text) for s in stimuli)
    for control in library.family("placebo") + library.family("control"):
        assert abs(length(control.text) - median) <= 0.1 * median, control.id


def test_prompt_tweak_families_with_their_sources_and_status():
    library = builtin_library()
    tone, threat = library.family("tone"), library.family("threat")
    assert [s.id for s in tone] == [f"TN{i:02d}" for i in range(1, 14)]
    assert library.get("TN09").text == "You poor creature, do you even know how to solve this?"
    assert {s.status for s in tone[:11]} == {"secondary"} and library.get("TN13").status == "unverified"
    assert library.get("TH01").text == "If you get this wrong, I will kick a puppy!"
    assert {s.status for s in threat} == {"secondary"} and all("2508.00614" in s.source for s in threat)
    assert library.get("TP01").status == "verified" and "ATLAS" in library.get("TP01").source
    assert {library.get(i).status for i in ("TP02", "TP03")} == {"unverified"}
    assert library.get("PS01").text == "You are a 4-year-old toddler who thinks the moon is made of cheese."
    assert library.get("PS04").status == "unverified" and "opening sentence only" in library.get("PS04").notes
    assert all(s.status == "verified" for s in library.family("emotionprompt"))


def test_an_unknown_status_is_refused(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[stimulus]]\nid = "U1"\ntext = "Hi."\nstatus = "probably"\n')
    with pytest.raises(UsageError, match=r"Did you mean|unknown stimulus status"):
        load_library([path])


def test_a_run_says_which_wordings_are_not_verified(tmp_path):
    import emoprompt

    run = emoprompt.run(emoprompt.Experiment(models=["scripted/echo"], suite="builtin", tasks=["sum"],
                                             conditions=["baseline", "TN09", "TP03", "EP02"], limit=1),
                        tmp_path / "run", report=False)
    notes = " ".join(run.manifest.notes)
    assert "TN09 is secondary" in notes and "TP03 is unverified" in notes and "do not cite it" in notes
    assert "EP02" not in notes
