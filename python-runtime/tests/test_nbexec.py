"""nbexec.py's report weight: plotly.js leaves the saved notebook and is inlined once into the exported HTML."""

from __future__ import annotations

from pathlib import Path

import nbformat

from distill_runtime.nbexec import PLOTLY_LIB_MARK, PLOTLY_MIME, drop_plotly_lib, export_html

FIGURE = {"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {}, "config": {}}


def notebook_with_figures(figures: int) -> nbformat.NotebookNode:
    lib_html = f"<script>{PLOTLY_LIB_MARK}\nvar Plotly={{}};</script>"
    outputs = [nbformat.v4.new_output("display_data", data={"text/html": lib_html})]
    for i in range(figures):
        html = f'<div id="distill-plot-{i}" class="distill-plot"></div>'
        data = {PLOTLY_MIME: FIGURE, "text/html": html, "text/plain": "<Figure>"}
        outputs.append(nbformat.v4.new_output("display_data", data=data))
    cell = nbformat.v4.new_code_cell("plots.show(fig)", outputs=outputs)
    kernelspec = {"name": "tslab", "display_name": "TypeScript", "language": "typescript"}
    return nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": kernelspec})


def test_the_saved_notebook_keeps_figure_json_not_plotly(tmp_path: Path) -> None:
    nb = notebook_with_figures(2)
    drop_plotly_lib(nb)
    outputs = nb.cells[0].outputs
    assert len(outputs) == 2
    assert all(PLOTLY_MIME in o["data"] for o in outputs)
    assert PLOTLY_LIB_MARK not in nbformat.writes(nb)


def test_the_html_inlines_the_given_plotly_once_after_the_figures(tmp_path: Path) -> None:
    plotly_js = tmp_path / "plotly.min.js"
    plotly_js.write_text("window.Plotly={react:function(){}};/* </script> inside */", encoding="utf-8")
    nb = notebook_with_figures(3)
    drop_plotly_lib(nb)
    html = export_html(nb, plotly_js)
    assert html.count(PLOTLY_LIB_MARK) == 1
    assert html.index(PLOTLY_LIB_MARK) > html.rindex("distill-plot-2")
    assert "<\\/script> inside" in html, "a closing tag inside the library cannot end the inline script"
    assert "window.__distillPending" in html


def test_no_figures_no_plotly(tmp_path: Path) -> None:
    plotly_js = tmp_path / "plotly.min.js"
    plotly_js.write_text("window.Plotly={};", encoding="utf-8")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", outputs=[])])
    assert PLOTLY_LIB_MARK not in export_html(nb, plotly_js)
