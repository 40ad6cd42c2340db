System.Console.WriteLine("tether");
