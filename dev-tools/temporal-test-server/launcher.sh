#!/bin/sh
# Temporal's time-skipping test server, as @temporalio/testing runs it
# (`TestWorkflowEnvironment.createTimeSkipping` with an `existing-path` executable): the SDK passes
# the port first, gives the server 5 s to answer and stops it by killing this process, hence `exec`.
# Installed into .tools/bin by dev-tools/stack/tools.ts, with the jars in .tools/lib.
#
# A JVM loading these 40 jars took 2.5-3.5 s to listen on a busy 2-core machine: too close to the
# SDK's 5 s. So the build runs the server once with `--archive-classes`, which saves the classes it
# loaded in a class-data-sharing archive at exit, and every later start maps them from there
# (under a second on the same machine). A JVM that cannot use the archive (another Java since)
# ignores it and starts the slow way.
set -eu
here=$(cd "$(dirname "$0")" && pwd -P)
lib="$here/../lib/temporal-test-server"
archive="$lib.jsa"
if [ "${1:-}" = "--archive-classes" ]; then
  shift
  share="-XX:ArchiveClassesAtExit=$archive"
else
  share="-XX:SharedArchiveFile=$archive"
fi
exec "${JAVA_HOME:+$JAVA_HOME/bin/}java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "$share" -Xlog:cds=off \
  -cp "$lib/*" io.temporal.testserver.TestServer "$@"
