"""The CPU's flags as /proc/cpuinfo lists them, and the vector ones that timings are recorded with."""

from fewgen.cpu import cpu_flags, vector_flags


def test_cpu_flags_are_the_flags_lines_words(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: avx512_bf16 in a name is no flag\n"
                    "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16\nprocessor\t: 1\nflags\t\t: fpu sse2 avx2\n")
    assert cpu_flags(str(info)) == {"fpu", "sse2", "avx2", "avx512f", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_vector_flags_keep_avx2_and_avx512_only_sorted():
    assert vector_flags(frozenset({"fpu", "avx512f", "avx2", "amx_bf16", "avx512_bf16", "avx"})) == "avx2 avx512_bf16 avx512f"
    assert vector_flags(frozenset({"fpu", "sse2"})) == ""
