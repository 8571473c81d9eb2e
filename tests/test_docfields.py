"""Config field descriptions reach help(Config), as they reach `initjax sweep --help`."""

import dataclasses
import pydoc

from initjax import cli_args, docfields, train


def test_help_of_config_lists_every_field_with_its_description():
    text = pydoc.render_doc(train.Config, renderer=pydoc.plaintext)
    docs = docfields.attribute_docs(train.Config)
    assert set(docs) == {f.name for f in dataclasses.fields(train.Config)}
    assert "Fields:" in train.Config.__doc__
    flat = " ".join(text.replace("|", " ").split())  # pydoc prefixes lines with "|"
    for name, doc in docs.items():
        assert f"{name} (" in flat
        assert " ".join(doc.split()[:5]) in flat, name
    assert "epochs (int, default 10): Passes over the training set." in flat
    assert cli_args.field_docs() == docs  # the CLI's --help reads the same descriptions


def test_with_fields_on_a_small_dataclass():
    @dataclasses.dataclass
    class Small:
        """A small one."""

        width: int = 3
        """Units per layer."""
        name: str = "x"

    text = docfields.with_fields(Small)
    assert text.splitlines() == [
        "A small one.",
        "",
        "Fields:",
        "  width (int, default 3): Units per layer.",
        "  name (str, default 'x')",
    ]
