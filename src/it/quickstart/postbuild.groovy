// The quick start ran to its end: every tensor identical on both engines (it throws otherwise).
def log = new File(basedir, 'build.log').text
def done = log =~ /version 1: 300 tensors in \d+ bucket\(s\), identical on 2 engines/
if (!done.find()) {
    throw new IllegalStateException("the quick start did not report 300 tensors identical on 2 engines; see build.log")
}
return true
