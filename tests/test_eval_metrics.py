"""Every metric on small constructed inputs, with its options: text, lists, JSON, CSV and XLSX tables,
Word documents and images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pcagent.eval.metrics import METRICS, unsupported_metric_options
from pcagent.eval.metrics.general import (check_direct_json_object, check_include_exclude, check_list,
                                          diff_text_file, exact_match, literal_match, match_in_list,
                                          match_value_to_rule)
from pcagent.eval.metrics.documents import compare_docx_files
from pcagent.eval.metrics.images import compare_images, ssim
from pcagent.eval.metrics.table import compare_csv, compare_table

openpyxl = pytest.importorskip("openpyxl", reason="the eval extra: pip install -e '.[eval]'")
docx = pytest.importorskip("docx", reason="the eval extra: pip install -e '.[eval]'")


def test_exact_match_and_match_in_list():
    assert exact_match("84", {"expected": "84"}) == 1.0
    assert exact_match("84\n", {"expected": "84"}) == 0.0
    assert match_in_list("b", {"expected": ["a", "b"]}) == 1.0
    assert match_in_list("c", {"expected": ["a", "b"]}) == 0.0


def test_literal_match_as_text_and_as_lists():
    assert literal_match("Hello", "hello") == 0.0
    assert literal_match("Hello", "hello", ignore_case=True) == 1.0
    assert literal_match(["A", 1], ["a", "1"], type="list", ignore_case=True) == 1.0
    assert literal_match(["A"], ["A", "B"], type="list") == 0.0
    assert literal_match("A", ["A"], type="list") == 0.0


def test_check_include_exclude():
    rules = {"include": ["Reports", "notes"], "exclude": ["draft"]}
    assert check_include_exclude("Reports\nnotes.txt\n", rules) == 1.0
    assert check_include_exclude("Reports\n", rules) == 0.0
    assert check_include_exclude("Reports notes draft", rules) == 0.0
    assert check_include_exclude(None, rules) == 0.0


def test_check_direct_json_object_exact_and_in_result():
    assert check_direct_json_object('{"theme": "dark", "size": 12, "x": 1}', {"expected": {"theme": "dark", "size": 12}}) == 1.0
    assert check_direct_json_object({"theme": "light"}, {"expected": {"theme": "dark"}}) == 0.0
    assert check_direct_json_object("{'theme': 'dark'}", {"expected": {"theme": "dark"}}) == 1.0  # quotes fixed
    assert check_direct_json_object("not json", {"expected": {"theme": "dark"}}) == 0.0
    assert check_direct_json_object(None, {"expected": {}}) == 0.0
    in_result = {"expected": {"opened": ["Item 4", "Item 5"], "title": "Ada"}, "expect_in_result": True}
    assert check_direct_json_object({"opened": ["Item 2", "Item 5"], "title": "Ada Lovelace"}, in_result) == 1.0
    assert check_direct_json_object({"opened": ["Item 2"], "title": "Ada Lovelace"}, in_result) == 0.0
    assert check_direct_json_object({"opened": "Item 4", "title": "Grace"}, in_result) == 0.0


def test_check_direct_json_object_ignores_list_order_when_told():
    assert check_direct_json_object({"tags": ["b", "a"]}, {"expected": {"tags": ["a", "b"]}}) == 0.0
    assert check_direct_json_object({"tags": ["b", "a"]}, {"expected": {"tags": ["a", "b"], "ignore_list_order": True}}) == 1.0


def test_check_list_with_expected_and_unexpected_patterns(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("start\nclicked Save\nclicked Open\n")
    assert check_list(str(log), {"expect": ["Save$", "^clicked Open"]}) == 1.0
    assert check_list(str(log), {"expect": ["Save$", "Delete"]}) == 0.0
    assert check_list(str(log), {"expect": ["Save"], "unexpect": ["Open"]}) == 0.0
    assert check_list(None, {"expect": []}) == 0.0


def test_diff_text_file_is_a_line_ratio(tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    a.write_text("one\ntwo\nthree\n")
    b.write_text("one\ntwo\nthree")  # a missing final newline changes no line
    c.write_text("one\nTWO\nthree\nfour\n")
    assert diff_text_file(str(a), str(b)) == 1.0
    assert diff_text_file(str(a), str(c)) == pytest.approx(2 * 2 / 7)
    assert diff_text_file(None, str(a)) == 0.0


def test_match_value_to_rule_methods():
    assert match_value_to_rule(90.5, {"method": "approx:0.01", "ref": 90.504})
    assert not match_value_to_rule("x", {"method": "approx:0.01", "ref": 1})
    assert match_value_to_rule("Total: 12", {"method": "re.I", "ref": "total: \\d+"})
    assert match_value_to_rule(3, {"method": "gt", "ref": 2}) and not match_value_to_rule(None, {"method": "gt", "ref": 2})
    assert match_value_to_rule("b,a", {"method": "str_set_eq", "ref": ["a", "b"]})
    assert not match_value_to_rule("b,a", {"method": "str_list_eq", "ref": ["a", "b"]})


def _xlsx(path, sheets):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return str(path)


def test_compare_table_sheet_data_between_csv_and_xlsx(tmp_path):
    csv_file = tmp_path / "scores.csv"
    csv_file.write_text("name,score\nAda,90.50001\nAlan,85\n\n")
    gold = _xlsx(tmp_path / "gold.xlsx", {"scores": [["name", "score"], ["Ada", 90.5], ["Alan", 85]]})
    data = {"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}
    assert compare_table(str(csv_file), gold, rules=[data]) == 1.0  # rounded to 4 digits
    assert compare_table(str(csv_file), gold, rules=[{**data, "precision": 6}]) == 0.0
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,score\nAda,90.5\nAlan,86\n")
    assert compare_table(str(wrong), gold, rules=[data]) == 0.0
    assert compare_table(str(tmp_path / "missing.csv"), gold, rules=[data]) == 0.0


def test_compare_table_sheet_names_by_name_and_index(tmp_path):
    sheets = {"Budget": [["item", "cost"], ["rent", 1200]], "Notes": [["hi"]]}
    result, gold = _xlsx(tmp_path / "r.xlsx", sheets), _xlsx(tmp_path / "g.xlsx", sheets)
    rules = [{"type": "sheet_name"}, {"type": "sheet_data", "sheet_idx0": "RNBudget", "sheet_idx1": "ENBudget"},
             {"type": "sheet_data", "sheet_idx0": 1, "sheet_idx1": "EI1"}]
    assert compare_table(result, gold, rules=rules) == 1.0
    renamed = _xlsx(tmp_path / "x.xlsx", {"Costs": sheets["Budget"], "Notes": [["hi"]]})
    assert compare_table(renamed, gold, rules=rules[:1]) == 0.0
    assert compare_table(renamed, gold, rules=rules[1:2]) == 0.0  # no sheet Budget in the result
    assert compare_table(renamed, gold) == 0.0  # no rules: names and every sheet's data


def test_compare_table_check_cell_fuzzy_print_freeze_and_zoom(tmp_path):
    result = _xlsx(tmp_path / "r.xlsx", {"S": [["Street", "Total"], ["12 Main Rd.", 41.999]]})
    gold = _xlsx(tmp_path / "g.xlsx", {"S": [["street", "Total"], ["12 Main Road", 42]]})
    cell = {"type": "check_cell", "sheet_idx": 0, "coordinate": "B2", "props": {"value": {"method": "approx:0.01", "ref": 42}}}
    assert compare_table(result, None, rules=[cell]) == 1.0
    assert compare_table(result, None, rules=[{**cell, "props": {"value": {"method": "eq", "ref": 42}}}]) == 0.0
    fuzzy = {"type": "sheet_fuzzy", "sheet_idx0": "RI0", "sheet_idx1": "EI0",
             "rules": [{"range": ["A1:A2"], "type": "exact_match", "ignore_case": True, "ignore_chars": ".",
                        "normalization": [["Rd", "Road"]]}]}
    assert compare_table(result, gold, rules=[fuzzy]) == 1.0
    assert compare_table(result, gold, rules=[{**fuzzy, "rules": [{"range": ["A1:A2"], "type": "exact_match"}]}]) == 0.0
    assert compare_table(result, gold, rules=[{**fuzzy, "rules": [{"range": "A2", "type": "fuzzy_match", "threshold": 80}]}]) == 1.0
    book = openpyxl.load_workbook(result)
    book["S"].freeze_panes = "A2"
    book["S"].sheet_view.zoomScale = 150
    book.save(result)
    freeze = {"type": "freeze", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}
    assert compare_table(result, gold, rules=[freeze]) == 0.0
    assert compare_table(result, result, rules=[freeze]) == 1.0
    assert compare_table(result, None, rules=[{"type": "zoom", "sheet_idx": 0, "method": "ge", "ref": 120}]) == 1.0
    (tmp_path / "r-S.csv").write_text("Street,Total\n12 Main Rd.,42\n")  # the export sheet_print reads
    (tmp_path / "g-S.csv").write_text("street,total\n12 main rd.,42\n\n")
    printed = {"type": "sheet_print", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}
    assert compare_table(result, gold, rules=[printed]) == 0.0
    assert compare_table(result, gold, rules=[{**printed, "ignore_case": True}]) == 1.0


def test_compare_csv_strict_and_case(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("Name, Age\nada,36\n")
    b.write_text("name, age \nADA,36\n")
    assert compare_csv(str(a), str(b)) == 0.0
    assert compare_csv(str(a), str(b), strict=False, ignore_case=True) == 1.0
    assert compare_csv(str(a), [str(tmp_path / "none.csv"), str(a)]) == 1.0


def _docx(path, paragraphs):
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(path)
    return str(path)


def test_compare_docx_files_options(tmp_path):
    gold = _docx(tmp_path / "gold.docx", ["Quarterly report", "Sales grew by 4 percent."])
    same = _docx(tmp_path / "same.docx", ["Quarterly report", "Sales grew by 4 percent."])
    spaced = _docx(tmp_path / "spaced.docx", ["Quarterly  report", "", "Sales grew by 4 percent. "])
    shouting = _docx(tmp_path / "shout.docx", ["QUARTERLY REPORT", "SALES GREW BY 4 PERCENT."])
    swapped = _docx(tmp_path / "swapped.docx", ["Sales grew by 4 percent.", "Quarterly report"])
    assert compare_docx_files(same, gold) == 1.0
    assert compare_docx_files(spaced, gold) == 1.0  # ignore_blanks is the default
    assert compare_docx_files(spaced, gold, ignore_blanks=False) == 0.0
    assert compare_docx_files(spaced, gold, ignore_blanks=False, delete_empty_lines=True) == 0.0  # "report " differs
    assert compare_docx_files(shouting, gold) == 0.0
    assert compare_docx_files(shouting, gold, ignore_case=True) == 1.0
    assert compare_docx_files(swapped, gold) == 0.0
    assert compare_docx_files(swapped, gold, ignore_order=True) == 1.0
    assert 0.5 < compare_docx_files(swapped, gold, content_only=True) < 1.0
    assert compare_docx_files(None, gold) == 0.0
    assert compare_docx_files(str(tmp_path / "missing.docx"), gold) == 0.0


def _picture(path, shift=0):
    image = Image.new("RGB", (96, 64), "#87ceeb")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 44, 96, 64], fill="#f4d03f")
    draw.ellipse([60 - shift, 6, 84 - shift, 30], fill="#ff8c00")
    image.save(path)
    return str(path)


def test_compare_images_ssim_and_its_base(tmp_path):
    gold = _picture(tmp_path / "gold.png")
    same = _picture(tmp_path / "same.png")
    moved = _picture(tmp_path / "moved.png", shift=40)
    assert compare_images(same, gold) == pytest.approx(1.0)
    similarity = compare_images(moved, gold)
    assert 0.3 < similarity < 0.99
    assert compare_images(moved, gold, reference_base_result=0.99) == 0.0
    base = similarity - 0.1
    assert compare_images(moved, gold, reference_base_result=base) == pytest.approx((similarity - base) / (1 - base))
    big = tmp_path / "big.png"
    Image.open(gold).resize((192, 128)).save(big)
    assert compare_images(str(big), gold) > 0.9  # resized to the smaller size first
    assert compare_images(str(tmp_path / "none.png"), gold) == 0.0


def test_ssim_matches_the_textbook_values():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 40)).astype(np.uint8)
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(image, 255 - image) < 0
    noisy = np.clip(image.astype(int) + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)
    assert 0.5 < ssim(image, noisy) < 1.0


def test_unsupported_table_rules_are_named():
    assert unsupported_metric_options("compare_table", {"rules": [{"type": "chart"}]}).startswith("compare_table rule 'chart'")
    assert "style" in unsupported_metric_options("compare_table", {"rules": [
        {"type": "check_cell", "sheet_idx": 0, "coordinate": "A1", "props": {"font_bold": {"method": "eq", "ref": True}}}]})
    assert unsupported_metric_options("compare_table", {"rules": [{"type": "sheet_data"}]}) is None
    assert set(METRICS) >= {"exact_match", "check_include_exclude", "check_direct_json_object", "diff_text_file",
                            "compare_table", "compare_docx_files", "check_list", "compare_images"}
