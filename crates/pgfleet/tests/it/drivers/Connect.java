// Connects through pgjdbc with the exported DATABASE_URL, as a service would, and prints the
// first column of the query's first row. Run with `java -cp postgresql.jar Connect.java QUERY`.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class Connect {
    public static void main(String[] args) throws Exception {
        try (Connection connection = DriverManager.getConnection(System.getenv("DATABASE_URL"));
             ResultSet rows = connection.createStatement().executeQuery(args[0])) {
            rows.next();
            System.out.println(rows.getString(1));
        }
    }
}
