// Copies the README's quick start, the one Java block that declares class QuickStart, into this project.
def text = new File(readme).text
def blocks = (text =~ /(?ms)^```java\n(.*?)^```/).collect { it[1] }.findAll { it =~ /(?m)^public class QuickStart\b/ }
if (blocks.size() != 1) {
    throw new IllegalStateException("README.md has ${blocks.size()} Java blocks declaring class QuickStart, expected 1")
}
def source = new File(basedir, 'src/main/java/QuickStart.java')
source.parentFile.mkdirs()
source.text = blocks[0]
return true
