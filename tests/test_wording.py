from labeler.wording import counted


def test_a_count_of_one_is_singular_and_every_other_count_plural():
    shown = [counted(n, "bad row") for n in (0, 1, 2, 1250)]
    assert shown == ["0 bad rows", "1 bad row", "2 bad rows", "1,250 bad rows"]
    assert counted(1, "child", "children") == "1 child"
    assert counted(3, "child", "children") == "3 children"
