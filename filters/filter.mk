# Shared by every filters/NAME/Makefile.am.  Each filter is a shared
# object loaded by nbdkit: nbdkit_* symbols come from the server, so the
# filter must not be linked with -no-undefined, and only filter_init and
# the debug flags are exported.  A filter is the same format code as the
# plugin of the same name, reading the layer below instead of a file.

FILTER_CPPFLAGS = -I$(top_srcdir)/common -I$(top_builddir)
FILTER_CFLAGS = $(NBDKIT_CFLAGS) $(ZLIB_CFLAGS) $(LIBDEFLATE_CFLAGS) \
	$(WARNINGS_CFLAGS)
FILTER_LDFLAGS = -module -avoid-version -shared \
	-Wl,--version-script=$(top_srcdir)/filters/filters.syms
FILTER_LIBADD = \
	$(top_builddir)/common/libxdiskfilterglue.la \
	$(top_builddir)/common/libxdisk.la \
	$(ZLIB_LIBS) $(LIBDEFLATE_LIBS) $(EXPAT_LIBS) -lpthread

# The .la file is of no use to nbdkit.
install-data-hook:
	rm -f $(DESTDIR)$(filterdir)/nbdkit-$(FILTER_NAME)-filter.la

SUFFIXES = .pod .1
.pod.1:
	$(AM_V_GEN)pod2man --section=1 --center="xdisk" \
	  --release="xdisk $(PACKAGE_VERSION)" --name="$*" $< > $@.tmp && mv $@.tmp $@

uninstall-local:
	rm -f $(DESTDIR)$(filterdir)/nbdkit-$(FILTER_NAME)-filter.so
