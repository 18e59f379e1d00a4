# Shared by every plugins/NAME/Makefile.am.  Each plugin is a shared
# object loaded by nbdkit: nbdkit_* symbols come from the server, so the
# plugin must not be linked with -no-undefined, and only plugin_init and
# the debug flags are exported.

PLUGIN_CPPFLAGS = -I$(top_srcdir)/common -I$(top_builddir)
PLUGIN_CFLAGS = $(NBDKIT_CFLAGS) $(ZLIB_CFLAGS) $(LIBDEFLATE_CFLAGS) \
	$(WARNINGS_CFLAGS)
PLUGIN_LDFLAGS = -module -avoid-version -shared \
	-Wl,--version-script=$(top_srcdir)/plugins/plugins.syms
PLUGIN_LIBADD = \
	$(top_builddir)/common/libxdiskglue.la \
	$(top_builddir)/common/libxdiskwrite.la \
	$(top_builddir)/common/libxdisk.la \
	$(ZLIB_LIBS) $(LIBDEFLATE_LIBS) $(NETTLE_LIBS) $(LIBXXHASH_LIBS) \
	$(EXPAT_LIBS) -lpthread

# The .la file is of no use to nbdkit.
install-data-hook:
	rm -f $(DESTDIR)$(plugindir)/nbdkit-$(PLUGIN_NAME)-plugin.la

# Man pages are written in POD, like nbdkit's own.
SUFFIXES = .pod .1
.pod.1:
	$(AM_V_GEN)pod2man --section=1 --center="xdisk" \
	  --release="xdisk $(PACKAGE_VERSION)" --name="$*" $< > $@.tmp && mv $@.tmp $@

# Without the .la, libtool's uninstall cannot find the module: remove it
# here.
uninstall-local:
	rm -f $(DESTDIR)$(plugindir)/nbdkit-$(PLUGIN_NAME)-plugin.so
