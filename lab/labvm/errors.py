"""The lab's two exceptions.

Every failure of the lab (a missing tool, a guest that does not boot,
malformed ground truth, a dead QMP socket) is a LabError whose message is
meant for the human reading the test log; callers catch that one class.
QMPError is the one case a caller may want to tell apart: QEMU itself
refused a command, and .cls/.desc say why."""


class LabError(Exception):
    """Any failure of the lab; the message is meant for humans."""


class QMPError(LabError):
    """QEMU answered a QMP command with an error."""

    def __init__(self, command, cls, desc):
        super().__init__(f"QMP {command}: {cls}: {desc}")
        self.command = command
        self.cls = cls
        self.desc = desc
