"""The one place that builds SparkSessions: Delta Lake, jars and profile settings."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StructType

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


class MissingJarsError(RuntimeError):
    """The profile needs local jars that `make setup` has not resolved yet."""


def jar_settings(spark_cfg: dict[str, Any]) -> dict[str, str]:
    """The spark.jars or spark.jars.packages setting that brings Delta and the JDBC drivers."""
    jars_dir = spark_cfg.get("jars_dir")
    if jars_dir:
        jars = sorted(glob.glob(os.path.join(jars_dir, "*.jar")))
        if not jars:
            raise MissingJarsError(
                f"no jars in {jars_dir}: run `make setup` (it resolves Delta Lake and the JDBC "
                "drivers from Maven Central with conf/maven/pom.xml)"
            )
        return {"spark.jars": ",".join(jars)}
    packages = spark_cfg.get("packages") or []
    return {"spark.jars.packages": ",".join(packages)} if packages else {}


def session_settings(cfg: dict[str, Any]) -> dict[str, str]:
    """Every Spark setting the profile asks for, Delta Lake's included."""
    spark_cfg = cfg["spark"]
    settings = {
        "spark.app.name": spark_cfg.get("app_name", "course-lakehouse"),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.warehouse.dir": f"{cfg['paths']['lakehouse']}/_warehouse",
    }
    if spark_cfg.get("master"):
        settings["spark.master"] = spark_cfg["master"]
    settings.update(jar_settings(spark_cfg))
    log4j = spark_cfg.get("log4j_config")
    if log4j:
        settings["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{log4j}"
    settings.update({k: str(v) for k, v in (spark_cfg.get("conf") or {}).items()})
    return settings


def build_session(cfg: dict[str, Any], app_name: str | None = None) -> SparkSession:
    """A SparkSession configured for the profile, with the lakehouse tables registered by name."""
    if str(cfg["spark"].get("master") or "").startswith("local"):
        # Local mode listens on loopback only, whatever the host name resolves to.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (mapInArrow) run on this machine: with this interpreter, whose
        # packages (numpy, pyarrow) they need, not whatever `python3` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in session_settings(cfg).items():
        builder = builder.config(key, value)
    if app_name:
        builder = builder.appName(app_name)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg["spark"].get("log_level", "WARN"))
    # Iterative fits (ALS's checkpointInterval) cut their lineage here; without a directory
    # Spark silently skips those checkpoints.
    spark.sparkContext.setCheckpointDir(f"{cfg['paths']['checkpoints']}/rdd")
    # Imported here because tables imports delta, which needs a running JVM only later.
    from lakehouse.tables import register_tables

    register_tables(spark, cfg)
    return spark


def local_rows(spark: SparkSession, rows: Sequence[tuple], schema: str | StructType) -> DataFrame:
    """A DataFrame of the few rows given (tuples in the order of the schema's fields), with
    exactly that schema, built from literals in the JVM. createDataFrame ships local rows to
    the JVM through a file and a Spark job of its own: some 0.3 s each time, for a handful
    of rows (control.offsets, the quality figures, several times a night)."""
    struct = schema if isinstance(schema, StructType) else StructType.fromDDL(schema)
    if not rows:
        nulls = [F.lit(None).cast(f.dataType).alias(f.name) for f in struct.fields]
        return spark.range(0).select(*nulls).to(struct)
    values = [
        F.struct(
            *[
                F.lit(v).cast(f.dataType).alias(f.name)
                for v, f in zip(row, struct.fields, strict=True)
            ]
        )
        for row in rows
    ]
    # The cast gives the fields the schema's nullability (a literal is never null).
    return spark.range(1).select(F.inline(F.array(*values).cast(ArrayType(struct))))
