#!/usr/bin/python3
# An SFTP server (python3-asyncssh) on 127.0.0.1 that answers every READ
# with at most CAP bytes, as older servers cap a READ at 64 KiB or less
# (remote-sources.md §2.2), and can lie about sizes: the client must
# re-request the rest of a short answer, and refuse a file that ends
# before the size it was told.
#
#   sftp-short-server.py HOST_KEY AUTHORIZED_KEYS CAP PORT_FILE [EXTRA]
#
# EXTRA bytes are added to every size fstat reports.  With
# XDISK_TEST_PASSWORD set in the environment, keys are refused and that
# password logs in: through the "password" method, or only through
# "keyboard-interactive" when XDISK_TEST_AUTH=kbdint.  The port, chosen
# by the system, is written to PORT_FILE once the server listens; the
# server runs until it is killed.
import asyncio
import os
import sys

import asyncssh

host_key, authorized_keys, cap, port_file = sys.argv[1:5]
cap = int(cap)
extra = int(sys.argv[5]) if len(sys.argv) > 5 else 0


class ShortSFTP(asyncssh.SFTPServer):
    def read(self, file_obj, offset, size):
        return super().read(file_obj, offset, min(size, cap))

    def fstat(self, file_obj):
        attrs = asyncssh.SFTPAttrs.from_local(super().fstat(file_obj))
        attrs.size += extra
        return attrs


password = os.environ.get("XDISK_TEST_PASSWORD")
kbdint = os.environ.get("XDISK_TEST_AUTH") == "kbdint"


class PasswordServer(asyncssh.SSHServer):
    def begin_auth(self, username):
        return True

    def public_key_auth_supported(self):
        return False

    def password_auth_supported(self):
        return not kbdint

    def validate_password(self, username, given):
        return given == password

    def kbdint_auth_supported(self):
        return kbdint

    def get_kbdint_challenge(self, username, lang, submethods):
        return "", "", "", [("Password: ", False)]

    def validate_kbdint_response(self, username, responses):
        return list(responses) == [password]


async def main():
    if password is None:
        auth = dict(authorized_client_keys=authorized_keys)
    else:
        auth = dict(server_factory=PasswordServer)
    server = await asyncssh.listen(
        "127.0.0.1", 0, server_host_keys=[host_key], sftp_factory=ShortSFTP,
        allow_scp=False, **auth)
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(port_file + ".tmp", port_file)
    await asyncio.Event().wait()

asyncio.run(main())
