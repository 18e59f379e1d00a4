# Images read over SFTP from an sshd on 127.0.0.1 (issue 20; included
# from tests/Makefile.am).  test-sftp-site.sh drives the SFTP site
# through sftp-read, without nbdkit; test-remote-ssh.sh serves chains
# with url=ssh://.

TESTS += \
	test-sftp-site.sh \
	test-remote-ssh.sh \
	$(NULL)

EXTRA_DIST += ssh-functions.sh sftp-short-server.py lsan-sftp-reconnect.supp
check_PROGRAMS += sftp-read
sftp_read_SOURCES = sftp-read.c
sftp_read_CPPFLAGS = -I$(top_srcdir)/common -I$(top_builddir)
sftp_read_CFLAGS = $(WARNINGS_CFLAGS)
sftp_read_LDADD = $(top_builddir)/common/libxdisk.la $(LIBSSH_LIBS) \
	$(LIBCURL_LIBS) $(ZLIB_LIBS) $(LIBDEFLATE_LIBS) $(NETTLE_LIBS) \
	$(LIBXXHASH_LIBS) $(EXPAT_LIBS) -lpthread
