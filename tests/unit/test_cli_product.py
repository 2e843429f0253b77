"""The CLI around the engine, without Spark: flags, configuration, jars, exit codes,
progress lines and the input check that runs before any session starts."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from receivables import cli, jars
from receivables.config import ConfigError, effective, load_settings
from receivables.ops.run_log import RunRecord
from receivables.progress import STEPS, Steps, describe
from receivables.run import RunResult
from receivables.spark import gc_options, jit_options

ROOT = Path(__file__).resolve().parents[2]
TEST_CONF = ROOT / "conf" / "test.yaml"


# ------------------------------------------------------------------ one CLI vocabulary


@pytest.mark.parametrize("argv", [
    ["--output-dir", "/x/out", "history"],
    ["history", "--output-dir", "/x/out"],
])
def test_output_dir_is_accepted_before_or_after_the_subcommand(argv):
    assert cli.build_parser().parse_args(argv).output_dir == "/x/out"


def test_output_dir_defaults_to_the_environment_then_output(monkeypatch):
    monkeypatch.delenv("RECEIVABLES_OUTPUT_DIR", raising=False)
    assert cli.build_parser().parse_args(["history"]).output_dir == "output"
    monkeypatch.setenv("RECEIVABLES_OUTPUT_DIR", "/from/env")
    assert cli.build_parser().parse_args(["history"]).output_dir == "/from/env"
    assert cli.build_parser().parse_args(["history", "--output-dir", "/flag"]).output_dir == "/flag"


def test_as_of_is_the_business_date_flag_of_every_command_that_takes_one():
    parser = cli.build_parser()
    for argv in (["run"], ["rebuild"], ["reprocess", "--from", "2024-01-01", "--to", "2024-01-31"],
                 ["query", "gold.invoice_aging"], ["report"]):
        assert str(parser.parse_args([*argv, "--as-of", "2024-06-30"]).as_of) == "2024-06-30", argv


def test_every_option_of_every_subcommand_has_help_text():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, subparser in sub.choices.items():  # type: ignore[union-attr]
        for action in subparser._actions:
            if action.dest in ("help",):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("receivables ")


# ------------------------------------------------------------------ configuration


def test_config_show_prints_the_defaults_merged_with_the_given_file(capsys):
    assert cli.main(["config", "show", "--conf", str(TEST_CONF)]) == 0
    shown = capsys.readouterr().out
    assert "spark.driver.memory: 1g" in shown  # from test.yaml, over the default 2g
    assert "window_days: 400" in shown  # from the packaged defaults


@pytest.mark.parametrize(("text", "says"), [
    ("pipeline:\n  default_terms: 30\n", "unknown key 'pipeline.default_terms'"),
    ("piepline:\n  timezone: UTC\n", "unknown section 'piepline'"),
    ("pipeline:\n  default_payment_terms_days: thirty\n",
     "'pipeline.default_payment_terms_days' must be a whole number"),
    ("pipeline:\n  reread_unchanged_files: 1\n", "'pipeline.reread_unchanged_files' must be true or false"),
    ("pipeline:\n  timezone: Mars/Olympus\n", "'pipeline.timezone' 'Mars/Olympus' is not a time zone"),
    ("spark:\n  conf:\n    spark.driver.memory: [1, 2]\n", "'spark.conf.spark.driver.memory' must be a single value"),
    ("spark:\n  gc: zgc\n", "'spark.gc' must be one of parallel, g1, serial, got 'zgc'"),
    ("spark: [\n", "is not valid YAML"),
])
def test_a_bad_conf_file_is_refused_naming_the_key_and_the_file(tmp_path, capsys, text, says):
    conf = tmp_path / "mine.yaml"
    conf.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(conf)
    assert says in str(refused.value) and str(conf) in str(refused.value)
    assert cli.main(["config", "show", "--conf", str(conf)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_the_packaged_defaults_are_valid_and_need_no_checkout():
    raw = effective()
    assert raw["audit"]["window_days"] == 400
    assert Path(cli.__file__).parent.joinpath("conf", "base.yaml").is_file()
    assert Path(cli.__file__).parent.joinpath("conf", "log4j2.properties").is_file()


def test_c1_sessions_keep_a_code_cache_spark_fits_in_and_tiered_adds_no_option():
    # C1 alone would shrink the JVM's code cache to 48 MB, which Spark fills (then evicts
    # and recompiles); the tiered default is 240 MB.
    assert jit_options("c1") == ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m")
    assert jit_options("tiered") == ()
    settings = load_settings()
    assert [settings.jit_for(c) for c in ("run", "rebuild", "query", None)] == ["tiered", "tiered", "c1", "c1"]


def test_sessions_collect_garbage_with_the_configured_collector_unless_the_java_options_name_one(spark):
    assert load_settings().gc == "parallel"
    assert load_settings(TEST_CONF).gc == "serial"
    assert gc_options("parallel") == ("-XX:+UseParallelGC",)
    # The JVM refuses two collectors: one named in spark.driver.extraJavaOptions wins.
    assert gc_options("parallel", "-Xss4m -XX:+UseG1GC") == ()
    assert gc_options("g1", "-XX:+UseGCOverheadLimit") == ("-XX:+UseG1GC",)
    # The suite's own JVM was started from conf/test.yaml (spark.gc: serial).
    beans = spark._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert sorted(b.getName() for b in beans) == ["Copy", "MarkSweepCompact"]


# ------------------------------------------------------------------ Delta's jars


def _jar_folder(folder: Path, maven_layout: bool) -> None:
    source = Path(jars.find(str(ROOT / ".jars"))[0]).parent
    for jar in jars.JARS:
        target = folder / (jar.maven_path if maven_layout else jar.file_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / jar.file_name, target)


def test_jars_are_found_in_the_conf_folder_then_the_environment_then_the_maven_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("RECEIVABLES_JARS", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    repo = tmp_path / "m2"
    _jar_folder(repo, maven_layout=True)
    monkeypatch.setenv("MAVEN_REPOSITORY", str(repo))
    assert all(p.startswith(str(repo)) for p in jars.find(str(empty)))
    env = tmp_path / "env"
    _jar_folder(env, maven_layout=False)
    monkeypatch.setenv("RECEIVABLES_JARS", str(env))
    assert all(p.startswith(str(env)) for p in jars.find(str(empty)))
    assert len(jars.find(str(env))) == len(jars.JARS)


def test_missing_jars_are_one_line_saying_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RECEIVABLES_JARS", raising=False)
    monkeypatch.setenv("MAVEN_REPOSITORY", str(tmp_path / "no-m2"))
    conf = tmp_path / "c.yaml"
    conf.write_text(f"spark:\n  jars_dir: {tmp_path / 'nowhere'}\n", encoding="utf-8")
    with pytest.raises(jars.DeltaJarsError) as missing:
        jars.find(str(tmp_path / "nowhere"))
    assert "\n" not in str(missing.value) and "receivables setup-jars" in str(missing.value)
    assert cli.main(["history", "--engine", "spark", "--output-dir", str(tmp_path / "out"), "--conf", str(conf)]) == 2
    err = capsys.readouterr().err
    assert "receivables setup-jars" in err and "Traceback" not in err
    # the default engine reads without Spark: no jars needed, and a missing output is named
    assert cli.main(["history", "--output-dir", str(tmp_path / "out"), "--conf", str(conf)]) == 2
    err = capsys.readouterr().err
    assert f"ops.run_log does not exist under {tmp_path / 'out'}" in err and "Traceback" not in err


def test_setup_jars_copies_verified_jars_from_the_local_repository_without_a_network(tmp_path, monkeypatch):
    repo = tmp_path / "m2"
    _jar_folder(repo, maven_layout=True)
    monkeypatch.setenv("MAVEN_REPOSITORY", str(repo))
    monkeypatch.setenv("RECEIVABLES_MAVEN_URL", "http://127.0.0.1:9")  # nothing listens: no download
    assert cli.main(["setup-jars", "--dest", str(tmp_path / "jars")]) == 0
    assert sorted(p.name for p in (tmp_path / "jars").iterdir()) == sorted(j.file_name for j in jars.JARS)


def test_a_corrupt_jar_in_the_repository_is_fetched_again_and_a_bad_download_refused(tmp_path, monkeypatch):
    repo = tmp_path / "m2"
    _jar_folder(repo, maven_layout=True)
    (repo / jars.JARS[1].maven_path).write_bytes(b"not a jar")
    served = tmp_path / "served"
    (served / jars.JARS[1].maven_path).parent.mkdir(parents=True)
    (served / jars.JARS[1].maven_path).write_bytes(b"still not the jar")
    with pytest.raises(jars.DeltaJarsError, match="has SHA-256"):
        jars.fetch(repo=repo, url=served.as_uri(), say=lambda _: None)


# ------------------------------------------------------------------ the input check before Spark


def test_every_bad_file_is_named_in_one_message_before_spark_starts(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    (data / "invoices").mkdir()
    (data / "invoices" / "late.csv").write_text("invoice_id,date_issued\n9,2024-02-01\n", encoding="utf-8")
    (data / "payments").mkdir()
    (data / "payments" / "x.csv").write_bytes(b"payment_id,invoice_id,payment_date,amount\n1,1,2024-01-0\xe9,1\n")
    code = cli.main(["run", "--input-dir", str(data), "--output-dir", str(tmp_path / "out"),
                     "--as-of", "2024-12-31", "--conf", str(TEST_CONF)])
    printed = capsys.readouterr()
    assert code == 3
    assert "2 input files cannot be ingested" in printed.err
    assert "invoices/late.csv, line 1" in printed.err and "payments/x.csv, line 2" in printed.err
    assert "starting Spark" not in printed.out and "Traceback" not in printed.err
    assert not (tmp_path / "out" / "bronze").exists()


def test_usage_errors_exit_2_with_one_line_and_no_traceback(tmp_path, capsys):
    code = cli.main(["reprocess", "--from", "2024-02-01", "--to", "2024-01-01", "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--from 2024-02-01 is after --to 2024-01-01" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as bad_date:
        cli.main(["run", "--as-of", "31/12/2024"])
    assert bad_date.value.code == 2
    assert "is not a date written YYYY-MM-DD" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="is after --to"):
        cli.main(["reprocess", "--from", "2024-02-01", "--to", "2024-01-01", "--output-dir", str(tmp_path),
                  "--debug"])


def test_spark_errors_are_reduced_to_their_first_paragraph():
    class AnalysisException(Exception):
        pass

    exc = AnalysisException(
        "[TABLE_OR_VIEW_NOT_FOUND] The table or view `gold.nope` cannot be found. SQLSTATE: 42P01; line 1 pos 14;\n"
        "'Project [*]\n+- 'UnresolvedRelation [gold, nope]\n\nJVM stacktrace:\norg.apache...\n\tat x"
    )
    code, message = cli._explain(exc, cli.build_parser().parse_args(["sql", "SELECT 1"]))
    assert code == 2
    assert message.startswith("[TABLE_OR_VIEW_NOT_FOUND] The table or view `gold.nope` cannot be found")
    assert "Project" not in message and "JVM" not in message


# ------------------------------------------------------------------ progress lines


def test_a_step_line_says_what_its_counters_moved_and_how_long_it_took():
    ticks = iter([10.0, 14.25])
    lines = []
    steps = Steps(emit=lines.append, clock=lambda: next(ticks))
    before = {"silver.invoices.inserted": 2}
    counts = {"silver.invoices.inserted": 5002, "silver.invoices.updated": 12, "silver.invoices.deleted": 0,
              "silver.invoice_line_items.inserted": 99}
    steps.done("silver.invoices", describe("silver.invoices", counts, before), 14.25 - 10.0)
    (line,) = lines
    text = line.render()
    assert text.startswith(f"[ 5/{len(STEPS)}] silver.invoices ")
    assert "5,000 inserted, 12 updated" in text and "99" not in text
    assert text.endswith("4.2s")


def test_bronze_sums_its_entities_and_a_step_that_moved_nothing_says_so():
    counts = {"files.ingested": 3, "bronze.invoices.rows_appended": 10, "bronze.payments.rows_appended": 5}
    assert describe("bronze", counts, {}) == "3 new files, 15 rows appended"
    assert describe("gold.invoice_aging", counts, {}) == "no change"


def test_json_summary_is_one_document():
    record = RunRecord("r1", "run", dt.date(2024, 12, 31), dt.datetime(2024, 12, 31, tzinfo=dt.UTC))
    record.count("files.ingested", 1)
    result = RunResult(record, "failed", "bad", input_rejected=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli._print_result(cli.build_parser().parse_args(["run", "--json"]), result, 1.5)
    doc = json.loads(out.getvalue())
    assert code == 3 and doc["exit_code"] == 3 and doc["status"] == "failed" and doc["counts"] == {"files.ingested": 1}


def test_the_check_before_spark_reads_a_file_again_only_when_it_changed(tmp_path, monkeypatch):
    from receivables.bronze import files

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    cache = tmp_path / "out" / files.CHECKED_FILES
    read = []
    real_inspect = files.inspect
    monkeypatch.setattr(files, "inspect", lambda d: read.append(d.path.name) or real_inspect(d))
    first = files.precheck(data, cache)
    assert sorted(read) == sorted(p.name for p in data.iterdir())
    read.clear()
    assert files.precheck(data, cache) == first and read == []  # nothing changed: nothing read
    (data / "payments.csv").write_text("payment_id,invoice_id,payment_date,amount\n1,1,2024-13-01,\"5\n",
                                       encoding="utf-8")
    with pytest.raises(files.InputFilesError, match="payments.csv, line 2"):
        files.precheck(data, cache)
    assert read == ["payments.csv"]
    shutil.copyfile(ROOT / "data" / "payments.csv", data / "payments.csv")
    files.precheck(data, cache)
    read.clear()
    files.precheck(data, cache, reread=True)  # pipeline.reread_unchanged_files: every file, every run
    assert sorted(read) == sorted(p.name for p in data.iterdir())


# ------------------------------------------------------------------ class-data sharing


def test_the_class_archive_is_used_only_for_the_jdk_and_jars_it_was_made_with_where_they_were(tmp_path, monkeypatch):
    from receivables import cds

    monkeypatch.setenv("RECEIVABLES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RECEIVABLES_CDS", raising=False)
    monkeypatch.delenv("RECEIVABLES_CDS_TRAIN", raising=False)
    jar = tmp_path / "delta-spark.jar"
    jar.write_bytes(b"x" * 10)
    assert cds.java_options([str(jar)]) == ""  # no archive yet: a plain start
    made = cds.archive([str(jar)])
    made.parent.mkdir(parents=True)
    made.write_bytes(b"archive")
    assert cds.java_options([str(jar)]) == f"-XX:SharedArchiveFile={made} -Xshare:auto"
    # a JVM the package does not start (a user's spark-sql) gets it too, its CDS messages off
    assert cds.foreign_java_options([str(jar)]) == (
        f"-XX:SharedArchiveFile={made} -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off")
    jar.write_bytes(b"x" * 11)  # another Delta jar: another key, the old archive is not used
    assert cds.archive([str(jar)]) != made and cds.java_options([str(jar)]) == ""
    assert cds.foreign_java_options([str(jar)]) == ""
    jar.write_bytes(b"x" * 10)
    again = cds.key([str(jar)])
    os.utime(jar, ns=(jar.stat().st_atime_ns, jar.stat().st_mtime_ns + 10**9))
    assert cds.key([str(jar)]) != again  # the same jar written again: the JVM would refuse the archive
    moved = tmp_path / "elsewhere"  # the same jars in another place: the JVM would map nothing
    moved.mkdir()
    (moved / jar.name).write_bytes(b"x" * 10)
    assert cds.key([str(moved / jar.name)]) != cds.key([str(jar)])
    other_spark = tmp_path / "other-venv" / "jars"
    other_spark.mkdir(parents=True)
    for spark_jar in cds.spark_jars().glob("*.jar"):
        (other_spark / spark_jar.name).symlink_to(spark_jar)
    assert cds.key([str(jar)], other_spark) != cds.key([str(jar)])
    monkeypatch.setenv("RECEIVABLES_CDS", "off")
    assert cds.java_options([str(jar)]) == "" and cds.foreign_java_options([str(jar)]) == ""
    monkeypatch.setenv("RECEIVABLES_CDS_TRAIN", str(tmp_path / "new.jsa"))
    assert cds.java_options([str(jar)]) == f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}"


def test_training_removes_only_the_archives_no_jvm_can_map_any_more(tmp_path, monkeypatch):
    """Each archive's .install lists the files it was made from; an archive goes when one of
    them is gone or written again (an install made again at the same paths trains its own
    archive under another key, and the old one would stay forever), not when it belongs to
    another install that is still there."""
    from receivables import cds, warmup

    jar = tmp_path / "venv" / "delta-spark.jar"
    jar.parent.mkdir()
    jar.write_bytes(b"x" * 10)
    here = tmp_path / "other-install" / "delta-spark.jar"
    here.parent.mkdir()
    here.write_bytes(b"y" * 20)
    cache = tmp_path / "cache"
    cache.mkdir()

    def archive(name: str, install: str | None) -> Path:
        path = cache / f"spark-{name}.jsa"
        path.write_bytes(b"archive")
        if install is not None:
            path.with_suffix(".install").write_text(install, encoding="utf-8")
        return path

    def made_from(*files: Path) -> str:
        return json.dumps([[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files])

    rewritten = archive("rewritten", made_from(jar))
    kept = archive("kept", made_from(here))
    gone = archive("gone", json.dumps([[str(tmp_path / "removed.jar"), 1, 1]]))
    old_kept = archive("old-kept", str(here.parent))  # the .install of earlier versions: a folder
    old_gone = archive("old-gone", str(tmp_path / "removed-venv"))
    bare = archive("bare", None)
    garbled = archive("garbled", json.dumps({"not": "a list"}))
    os.utime(jar, ns=(jar.stat().st_atime_ns, jar.stat().st_mtime_ns + 10**9))  # the same jar, written again
    warmup._remove_stale(cache)
    assert sorted(p.name for p in cache.glob("*.jsa")) == sorted([kept.name, old_kept.name])
    assert sorted(p.name for p in cache.glob("*.install")) == sorted(
        [kept.with_suffix(".install").name, old_kept.with_suffix(".install").name])
    assert not any(p.exists() for p in (rewritten, gone, old_gone, bare, garbled))
    # training records cds.inputs: the java binary, the Spark jars and the given jars, each
    # with its size and time; usable until one of them changes
    recorded = cds.inputs([str(jar)])
    assert recorded is not None and (str(jar.resolve()), 10, jar.stat().st_mtime_ns) in recorded
    assert len(recorded) > 100 and cds.still_usable(recorded)  # pyspark's jars are there too
    jar.write_bytes(b"x" * 11)
    assert not cds.still_usable(recorded)
