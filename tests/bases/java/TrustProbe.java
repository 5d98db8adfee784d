// What a JVM sees in a trust store, for tests/bases/test_java_truststore.py.
//   names BUNDLE           canonical subject name of each certificate, NUL after each
//   issuers                how many issuers the default TrustManagerFactory accepts
//   entries STORE PASSWORD alias, creation date, notBefore (ms), is-trusted: fields split
//                          by U+0001, NUL after each entry
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collections;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import javax.security.auth.x500.X500Principal;

public class TrustProbe {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        switch (args[0]) {
            case "names": {
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                try (InputStream in = Files.newInputStream(Path.of(args[1]))) {
                    for (Certificate cert : factory.generateCertificates(in)) {
                        X500Principal subject = ((X509Certificate) cert).getSubjectX500Principal();
                        out.print(subject.getName(X500Principal.CANONICAL) + "\0");
                    }
                }
                break;
            }
            case "issuers": {
                TrustManagerFactory factory =
                        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                factory.init((KeyStore) null);
                for (TrustManager manager : factory.getTrustManagers()) {
                    if (manager instanceof X509TrustManager) {
                        out.println(((X509TrustManager) manager).getAcceptedIssuers().length);
                    }
                }
                break;
            }
            case "entries": {
                KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
                try (InputStream in = Files.newInputStream(Path.of(args[1]))) {
                    store.load(in, args[2].toCharArray());
                }
                for (String alias : Collections.list(store.aliases())) {
                    X509Certificate cert = (X509Certificate) store.getCertificate(alias);
                    out.print(alias + "\1" + store.getCreationDate(alias).getTime() + "\1"
                            + cert.getNotBefore().getTime() + "\1" + store.isCertificateEntry(alias)
                            + "\0");
                }
                break;
            }
            default:
                throw new IllegalArgumentException(args[0]);
        }
    }
}
