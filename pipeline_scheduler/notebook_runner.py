"""Run a notebook with nbclient, streaming cell output to stdout/stderr as it comes.

Started by the scheduler as a subprocess::

    python -m pipeline_scheduler.notebook_runner IN.ipynb OUT.ipynb [--kernel NAME] [--timeout S]

The executed notebook (with outputs, also when a cell fails) is written to OUT.ipynb.
Exit code 0 when every cell ran, 1 when a cell failed, 2 on a bad notebook.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebook")
    parser.add_argument("output")
    parser.add_argument("--kernel", default="")
    parser.add_argument("--cell-timeout", type=int, default=-1)
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    try:
        nb = nbformat.read(args.notebook, as_version=4)
    except Exception as err:  # any parse failure is the notebook's fault
        print(f"Cannot read the notebook {args.notebook}: {err}", file=sys.stderr)
        return 2

    class StreamingClient(NotebookClient):  # type: ignore[misc]
        """Echo every output to our own stdout/stderr so the run log shows it live."""

        def output(self, outs: list[Any], msg: dict[str, Any], display_id: Any, cell_index: int) -> Any:
            content = msg.get("content", {})
            kind = msg.get("msg_type")
            if kind == "stream":
                stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
                stream.write(content.get("text", ""))
                stream.flush()
            elif kind in ("execute_result", "display_data"):
                text = content.get("data", {}).get("text/plain")
                if text:
                    print(text, flush=True)
            elif kind == "error":
                print("\n".join(content.get("traceback", [])), file=sys.stderr, flush=True)
            return super().output(outs, msg, display_id, cell_index)

    options: dict[str, Any] = {"timeout": None if args.cell_timeout < 0 else args.cell_timeout}
    if args.kernel:
        options["kernel_name"] = args.kernel
    client = StreamingClient(nb, resources={"metadata": {"path": "."}}, **options)
    code = 0
    try:
        client.execute()
    except CellExecutionError as err:
        print(f"\nA cell failed: {str(err).splitlines()[0] if str(err) else err}", file=sys.stderr)
        code = 1
    except Exception as err:  # kernel died, no such kernel, ...
        print(f"\nThe notebook could not run: {err}", file=sys.stderr)
        code = 1
    finally:
        nbformat.write(nb, args.output)
    return code


if __name__ == "__main__":
    sys.exit(main())
