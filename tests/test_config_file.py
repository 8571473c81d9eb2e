"""`initjax sweep --config FILE` / `--dump-config`: the file stands for flags, flags win, and a
dumped, edited and rerun file gives the same results as the equivalent flags."""

import tomllib

import pytest

from initjax import cli, config_file, results

FLAGS = [
    "sweep",
    "--dataset", "synthetic",
    "--data-args", "n_train=128,n_test=32,dim=8",
    "--model", "mlp",
    "--hidden", "8",
    "--activation", "tanh",
    "--batch-size", "32",
    "--seeds", "2",
    "--sigmas", "0.5,1e-3",
    "--epochs", "1",
    "--quiet",
]  # fmt: skip


def test_a_file_becomes_flags_before_the_given_ones(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'scheme = ["he_normal", "lecun_normal"]\nhidden = [[64, 64], [256]]\n'
        'sigmas = "logspace:-2:0:3"\nseeds = [0, 2]\nbatch_norm = true\n'
        'data_args = { n_train = 64 }\nscheme_kwargs = { mode = "fan_avg" }\nlr = 1e-05\n'
    )
    argv = config_file.expand(["sweep", "--config", str(path), "--epochs", "3"])
    assert argv == [
        "sweep",
        "--scheme", "he_normal,lecun_normal",
        "--hidden", "64,64;256",
        "--sigmas", "logspace:-2:0:3",
        "--seeds", "0,2",
        "--batch-norm", "true",
        "--data-args", "n_train=64",
        "--scheme-kwargs", "mode=fan_avg",
        "--lr", "1e-05",
        "--epochs", "3",
    ]  # fmt: skip


def test_bad_files_are_refused_naming_the_problem(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochz = 3\n")
    assert cli.main(["sweep", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown setting(s) epochz" in err and "valid keys: seeds, sigmas, lrs, model" in err
    bad.write_text("epochs = \n")
    assert cli.main(["sweep", "--config", str(bad)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    assert cli.main(["sweep", "--config", str(tmp_path / "none.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    bad.write_text("epochs = -1\n")  # checked as the flag is
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--config", str(bad), "--dataset", "synthetic"])
    assert "epochs" in capsys.readouterr().err


def test_dump_edit_rerun_gives_the_results_of_the_equivalent_flags(tmp_path, capsys):
    assert cli.main([*FLAGS, "--dump-config"]) == 0
    dumped = capsys.readouterr().out
    settings = tomllib.loads(dumped)
    assert settings["sigmas"] == [0.5, 1e-3] and settings["hidden"] == [8]
    assert settings["epochs"] == 1 and settings["data_args"] == {
        "n_train": 128,
        "n_test": 32,
        "dim": 8,
    }
    assert not (tmp_path / "a").exists()  # --dump-config trains nothing
    edited = tmp_path / "sweep.toml"
    edited.write_text(dumped.replace("epochs = 1\n", "epochs = 2\n"))
    # flags override the file
    assert cli.main(["sweep", "--config", str(edited), "--epochs", "3", "--dump-config"]) == 0
    assert tomllib.loads(capsys.readouterr().out)["epochs"] == 3

    assert (
        cli.main(["sweep", "--config", str(edited), "--quiet", "--out", str(tmp_path / "a")]) == 0
    )
    flags = [*FLAGS[: FLAGS.index("--epochs")], "--epochs", "2", "--quiet"]
    assert cli.main([*flags, "--out", str(tmp_path / "b")]) == 0
    a, b = (results.load(tmp_path / d / "results.nc") for d in "ab")
    assert a.sizes["epoch"] == 3 and a.attrs["fingerprint"] == b.attrs["fingerprint"]
    assert a.equals(b)
    assert (tmp_path / "a" / "fingerprint.json").read_text() == (
        tmp_path / "b" / "fingerprint.json"
    ).read_text()
    # the effective settings are kept with the results, and rerun to the same sweep
    kept = (tmp_path / "a" / config_file.FILE).read_text()
    assert kept == (tmp_path / "b" / config_file.FILE).read_text()
    assert tomllib.loads(kept)["epochs"] == 2
    capsys.readouterr()
    assert (
        cli.main(
            ["sweep", "--config", str(tmp_path / "a" / "sweep.toml"), "--out", str(tmp_path / "a")]
        )
        == 0
    )
    assert "already holds this sweep, complete" in capsys.readouterr().out
