"""lakehouse.course_content: TF-IDF course vectors, learner profiles, most similar course."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.course_content import (
    course_text,
    course_vectors,
    learner_course_weights,
    learner_profiles,
    most_similar_engaged,
)

COURSES = (
    "course_id bigint, title string, description string, skills array<string>, "
    "category string, level string, item_type string"
)
PAIRS = "learner_id bigint, course_id bigint"
VECTORS = "id bigint, features array<float>"


def courses_df(spark):
    return spark.createDataFrame(
        [
            (1, "Python Basics", "Loops and functions.", ["python"], "Data", "Beginner", "course"),
            (2, "Python Basics", "Loops and functions.", ["python"], "Data", "Beginner", "course"),
            (3, "Negotiation", "Deals and conflict.", ["negotiation"], "Sales", None, "course"),
            # Like an OULAD material: a title, a module and a type only.
            (4, "Week 1 reading", None, None, "AAA", None, "course"),
        ],
        COURSES,
    )


def cosines(vectors):
    dot = F.aggregate(
        F.zip_with("a.features", "b.features", lambda x, y: x * y), F.lit(0.0), lambda s, v: s + v
    )
    return (
        vectors.alias("a")
        .crossJoin(vectors.alias("b"))
        .filter(F.col("a.id") < F.col("b.id"))
        .select(F.col("a.id").alias("a"), F.col("b.id").alias("b"), F.round(dot, 4).alias("cos"))
    )


def test_course_text_joins_the_parts_a_course_has(spark):
    out = course_text(courses_df(spark).filter(F.col("course_id").isin(1, 4)))

    expected = spark.createDataFrame(
        [
            (1, "Python Basics Loops and functions. python Data course"),
            (4, "Week 1 reading AAA course"),
        ],
        "course_id bigint, text string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_course_vectors_are_unit_tfidf_vectors_equal_for_equal_text_and_orthogonal_otherwise(
    spark,
):
    vectors = course_vectors(courses_df(spark), num_features=256)

    norms = vectors.select(
        "id",
        F.round(F.sqrt(F.aggregate("features", F.lit(0.0), lambda s, v: s + v * v)), 4).alias("n"),
    )
    assert_df_equality(
        norms,
        spark.createDataFrame([(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)], "id bigint, n double"),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    expected = spark.createDataFrame(
        [(1, 2, 1.0), (1, 3, 0.0), (1, 4, 0.0), (2, 3, 0.0), (2, 4, 0.0), (3, 4, 0.0)],
        "a bigint, b bigint, cos double",
    )
    assert_df_equality(cosines(vectors), expected, ignore_row_order=True, ignore_nullable=True)


def test_learner_course_weights_count_completion_on_top_of_engagement(spark):
    engagement = spark.createDataFrame([(1, 10), (1, 10), (1, 11), (2, 10)], PAIRS)
    completed = spark.createDataFrame([(1, 11), (3, 12)], PAIRS)

    out = learner_course_weights(engagement, completed)

    expected = spark.createDataFrame(
        [(1, 10, 1.0), (1, 11, 3.0), (2, 10, 1.0), (3, 12, 3.0)],
        "learner_id bigint, course_id bigint, weight double",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_learner_profiles_are_normalised_weighted_means_of_known_courses(spark):
    vectors = spark.createDataFrame(
        [(10, [1.0, 0.0, 0.0]), (11, [0.0, 1.0, 0.0]), (12, [0.0, 0.0, 0.0])], VECTORS
    )
    weights = spark.createDataFrame(
        [(1, 10, 3.0), (1, 11, 4.0), (2, 12, 1.0), (2, 99, 1.0), (3, 99, 2.0)],
        "learner_id bigint, course_id bigint, weight double",
    )

    out = learner_profiles(weights, vectors)

    # learner 2's only known course has no terms; learner 3 knows no course with a vector
    expected = spark.createDataFrame([(1, [0.6, 0.8, 0.0]), (2, [0.0, 0.0, 0.0])], VECTORS)
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_most_similar_engaged_picks_the_closest_other_course_and_skips_unrelated_ones(spark):
    vectors = spark.createDataFrame(
        [
            (10, [1.0, 0.0, 0.0]),
            (11, [0.6, 0.8, 0.0]),
            (12, [0.0, 1.0, 0.0]),
            (13, [0.0, 0.0, 1.0]),
            (14, [0.8, 0.6, 0.0]),
        ],
        VECTORS,
    )
    weights = spark.createDataFrame(
        [(1, 10, 1.0), (1, 12, 1.0), (1, 11, 3.0), (2, 10, 1.0), (2, 12, 3.0)],
        "learner_id bigint, course_id bigint, weight double",
    )
    recommended = spark.createDataFrame([(1, 14), (1, 11), (1, 13), (2, 14), (3, 14)], PAIRS)

    out = most_similar_engaged(recommended, weights, vectors)

    expected = spark.createDataFrame(
        [
            (1, 14, 11),  # 0.96 beats 10's 0.8 and 12's 0.6
            (1, 11, 12),  # itself excluded: 12 at 0.8 beats 10 at 0.6
            # (1, 13): nothing shares a term with it; learner 3 has no history
            (2, 14, 10),  # 0.8 beats the heavier 12 at 0.6
        ],
        "learner_id bigint, course_id bigint, similar_id bigint",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
